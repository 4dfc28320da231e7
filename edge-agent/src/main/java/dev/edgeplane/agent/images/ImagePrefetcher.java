package dev.edgeplane.agent.images;

import dev.edgeplane.agent.journal.DesiredState;
import dev.edgeplane.agent.journal.DesiredStateStore;
import dev.edgeplane.agent.loop.PassLoop;
import dev.edgeplane.agent.runtime.CriRuntime;
import dev.edgeplane.api.v1.Assignment;
import dev.edgeplane.api.v1.ImagePullReport;
import dev.edgeplane.api.v1.ImagePullTask;
import dev.edgeplane.api.v1.LocalObjectReference;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import java.util.logging.Logger;

/**
 * The control plane's orders to pull images ahead of need (Assignment.image_pull, "prefetch.&lt;name&gt;"
 * entries of the desired state, for an ImagePrefetch), carried out level-triggered like the volume
 * tasks: while an entry is desired its images are made present, an image already there (CRI
 * ImageStatus) is not pulled again, so after an agent restart a finished entry is reported DONE at
 * once without pulling. Pulls go through the same CRI PullImage as a pod's, with the credentials of
 * the entry's image pull Secrets ({@link RegistryCredentials}, from its config_data), at most
 * {@code maxPulls} at once so a prefetch never starves the pods' own pulls of bandwidth for long.
 * Progress is reported per entry (PULLING with the images done, then DONE or FAILED) through the
 * status reports. An entry runs again when its content changes (e.g. a new version of a pull Secret
 * after a FAILED); while it is desired, image GC keeps its images ({@link #images}).
 */
public final class ImagePrefetcher implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(ImagePrefetcher.class.getName());
    /** Attempts per image, with a doubling pause from {@link #RETRY_PAUSE}, before the entry is FAILED. */
    static final int ATTEMPTS = 3;
    static final Duration RETRY_PAUSE = Duration.ofSeconds(2);
    private static final int MAX_MESSAGE = 512;

    private final CriRuntime cri;
    private final DesiredStateStore desired;
    private final Consumer<ImagePullReport> report;
    private final BiConsumer<String, String> forget;
    private final ExecutorService pulls;
    private final PassLoop loop;
    private final Duration retryPause;
    /** Entry key -> the content it was started with (running or finished); a changed entry starts again. */
    private final Map<String, Assignment> started = new HashMap<>();
    private volatile boolean closed;

    /**
     * @param report   told each entry's progress (keyed by the ImagePrefetch's namespace/name)
     * @param forget   told (namespace, name) once an entry is gone from a complete desired state
     * @param maxPulls at most this many entries pull at once (each pulls its images one after another)
     */
    public ImagePrefetcher(CriRuntime cri, DesiredStateStore desired, Consumer<ImagePullReport> report,
                           BiConsumer<String, String> forget, int maxPulls, Duration period) {
        this(cri, desired, report, forget, maxPulls, period, RETRY_PAUSE);
    }

    ImagePrefetcher(CriRuntime cri, DesiredStateStore desired, Consumer<ImagePullReport> report,
                    BiConsumer<String, String> forget, int maxPulls, Duration period, Duration retryPause) {
        this.cri = cri;
        this.desired = desired;
        this.report = report;
        this.forget = forget;
        this.retryPause = retryPause;
        int threads = Math.max(1, maxPulls);
        this.pulls = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "image-prefetch");
            t.setDaemon(true);
            return t;
        });
        this.loop = new PassLoop("image-prefetch-tasks", period, this::syncOnce);
        desired.addListener(this::trigger);
    }

    public void start() {
        loop.start();
    }

    public void trigger() {
        loop.trigger();
    }

    /** The images the desired image pull entries name: image GC keeps them while their ImagePrefetch exists. */
    public static Set<String> images(DesiredState state) {
        Set<String> images = new HashSet<>();
        state.imagePulls().values().forEach(e -> images.addAll(e.getImagePull().getImagesList()));
        return images;
    }

    /** One pass: starts the entries that are new or changed, forgets the ones gone. */
    synchronized void syncOnce() {
        DesiredState state = desired.current();
        for (Map.Entry<String, Assignment> e : state.imagePulls().entrySet()) {
            if (closed) {
                return;
            }
            Assignment entry = e.getValue();
            if (entry.equals(started.get(e.getKey()))) {
                continue;
            }
            started.put(e.getKey(), entry);
            try {
                pulls.execute(() -> run(entry));
            } catch (RejectedExecutionException ex) {
                return; // closing
            }
        }
        if (state.complete()) {
            started.entrySet().removeIf(e -> {
                if (state.imagePulls().containsKey(e.getKey())) {
                    return false;
                }
                forget.accept(e.getValue().getNamespace(), e.getValue().getImagePull().getName());
                return true;
            });
        }
    }

    /** Makes every image of the entry present, one after another; reports as it goes. */
    private void run(Assignment entry) {
        ImagePullTask task = entry.getImagePull();
        String what = entry.getNamespace() + "/" + task.getName();
        if (!stillWanted(entry)) {
            return; // replaced or removed while it waited for a pull slot
        }
        List<String> secrets = task.getImagePullSecretsList().stream().map(LocalObjectReference::getName).toList();
        int done = 0;
        List<String> failures = new ArrayList<>();
        report(entry, ImagePullReport.State.PULLING, done, "");
        for (String image : task.getImagesList()) {
            if (closed || !stillWanted(entry)) {
                return;
            }
            String failure = ensure(image, secrets, entry);
            if (failure == null) {
                done++;
                report(entry, ImagePullReport.State.PULLING, done, String.join("; ", failures));
            } else {
                failures.add(failure);
            }
        }
        if (failures.isEmpty()) {
            LOG.info(() -> "image prefetch " + what + ": " + task.getImagesCount() + " images present");
            report(entry, ImagePullReport.State.DONE, done, "");
        } else {
            LOG.warning("image prefetch " + what + ": " + failures.size() + " of " + task.getImagesCount() + " images failed: " + failures);
            report(entry, ImagePullReport.State.FAILED, done, String.join("; ", failures));
        }
    }

    /** Null when the image is present (or now pulled); else why not, after {@link #ATTEMPTS} tries. */
    private String ensure(String image, List<String> secrets, Assignment entry) {
        try {
            if (cri.image(image).isPresent()) {
                return null;
            }
        } catch (StatusRuntimeException e) {
            // The runtime is not answering: the pull below says so, retried like a pull failure.
        }
        RegistryCredentials.Pull credentials = RegistryCredentials.forImage(image, secrets, entry.getConfigDataList());
        String failure = null;
        Duration pause = retryPause;
        for (int attempt = 1; attempt <= ATTEMPTS && !closed; attempt++) {
            try {
                String ref = cri.pullImage(image, null, credentials.auth()); // never log the credentials
                LOG.info(() -> "image prefetch: pulled " + image + " (" + ref + ")");
                return null;
            } catch (StatusRuntimeException e) {
                failure = "image " + image + ": " + credentials.explain(e.getStatus().getCode() + " "
                        + (e.getStatus().getDescription() == null ? "" : e.getStatus().getDescription()));
                if (attempt < ATTEMPTS) {
                    try {
                        Thread.sleep(pause.toMillis());
                    } catch (InterruptedException ie) {
                        Thread.currentThread().interrupt();
                        return failure;
                    }
                    pause = pause.multipliedBy(2);
                }
            }
        }
        return failure;
    }

    private boolean stillWanted(Assignment entry) {
        return entry.equals(desired.current().imagePulls().get(DesiredState.key(entry)));
    }

    private void report(Assignment entry, ImagePullReport.State state, int done, String message) {
        ImagePullTask task = entry.getImagePull();
        report.accept(ImagePullReport.newBuilder().setNamespace(entry.getNamespace()).setName(task.getName()).setUid(task.getUid())
                .setState(state).setImagesDone(done).setImagesTotal(task.getImagesCount())
                .setMessage(message.length() > MAX_MESSAGE ? message.substring(0, MAX_MESSAGE - 3) + "..." : message).build());
    }

    @Override
    public void close() {
        closed = true;
        loop.close(Duration.ofSeconds(5));
        pulls.shutdownNow();
        try {
            pulls.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
