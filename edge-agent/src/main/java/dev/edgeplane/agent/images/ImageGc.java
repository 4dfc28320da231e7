package dev.edgeplane.agent.images;

import dev.edgeplane.agent.runtime.CriRuntime;
import dev.edgeplane.cri.v1.Container;
import dev.edgeplane.cri.v1.Image;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.FileStore;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Supplier;
import java.util.logging.Logger;

/**
 * The kubelet's image garbage collection, for edge disks: when the runtime's disk is used past
 * {@code highPercent}, images nothing needs are removed, least recently used first, until it is at
 * {@code lowPercent}. Never removed: an image any container uses (managed or not, running or exited),
 * an image the desired state names (a replica about to start, a new template pulled before its old pod
 * goes: offline, it could not be pulled again), the runtime's pod sandbox image, and an image first
 * seen or last used less than {@code minimumAge} ago (use is tracked in memory, so after an agent
 * restart nothing goes for that long).
 */
public final class ImageGc {
    private static final Logger LOG = Logger.getLogger(ImageGc.class.getName());

    /**
     * @param highPercent disk use at which collection starts (the kubelet's 85)
     * @param lowPercent  disk use it collects down to (80)
     * @param minimumAge  an image unused for less than this stays (2 min)
     * @param diskPath    a path on the runtime's disk
     */
    public record Settings(int highPercent, int lowPercent, Duration minimumAge, Path diskPath) {
        public static Settings defaults(Path diskPath) {
            return new Settings(85, 80, Duration.ofMinutes(2), diskPath);
        }
    }

    private final CriRuntime cri;
    private final Supplier<Set<String>> desiredImages;
    private final Settings settings;
    private final Clock clock;
    /** Image id -> when it was last seen in use (or first seen at all). */
    private final Map<String, Instant> lastUsed = new HashMap<>();

    public ImageGc(CriRuntime cri, Supplier<Set<String>> desiredImages, Settings settings, Clock clock) {
        this.cri = cri;
        this.desiredImages = desiredImages;
        this.settings = settings;
        this.clock = clock;
    }

    /** One look; the ids of the images it removed. */
    public synchronized List<String> collectOnce() {
        Instant now = clock.instant();
        List<Image> images = cri.listImages();
        Set<String> needed = needed(images);
        Set<String> present = new HashSet<>();
        for (Image image : images) {
            present.add(image.getId());
            lastUsed.merge(image.getId(), now, (before, n) -> needed.contains(image.getId()) ? n : before);
        }
        lastUsed.keySet().retainAll(present);
        Optional<Integer> used = usedPercent();
        if (used.isEmpty() || used.get() < settings.highPercent()) {
            return List.of();
        }
        List<Image> candidates = new ArrayList<>();
        for (Image image : images) {
            if (!needed.contains(image.getId()) && !image.getPinned()
                    && !lastUsed.get(image.getId()).isAfter(now.minus(settings.minimumAge()))) {
                candidates.add(image);
            }
        }
        candidates.sort(Comparator.comparing((Image i) -> lastUsed.get(i.getId())));
        List<String> removed = new ArrayList<>();
        for (Image image : candidates) {
            if (usedPercent().map(u -> u <= settings.lowPercent()).orElse(true)) {
                break;
            }
            try {
                cri.removeImage(image.getId());
                removed.add(image.getId());
                lastUsed.remove(image.getId());
                LOG.info(() -> "image garbage collection: removed " + image.getRepoTagsList() + " " + image.getId()
                        + " (" + image.getSize() / (1 << 20) + " MiB, disk " + used.get() + "% used, high " + settings.highPercent() + "%)");
            } catch (StatusRuntimeException e) {
                LOG.warning("image garbage collection: cannot remove " + image.getId() + ": " + e.getStatus());
            }
        }
        return removed;
    }

    /** Ids of the images something needs: a container's, the desired state's, the sandbox image. */
    private Set<String> needed(List<Image> images) {
        Map<String, String> idByName = new HashMap<>();
        for (Image image : images) {
            idByName.put(image.getId(), image.getId());
            image.getRepoTagsList().forEach(tag -> idByName.put(tag, image.getId()));
            image.getRepoDigestsList().forEach(digest -> idByName.put(digest, image.getId()));
        }
        Set<String> needed = new HashSet<>();
        for (Container container : cri.listContainers(Map.of())) {
            Optional.ofNullable(idByName.get(container.getImageRef())).ifPresent(needed::add);
            Optional.ofNullable(idByName.get(container.getImage().getImage())).ifPresent(needed::add);
        }
        Set<String> names = new HashSet<>(desiredImages.get());
        cri.sandboxImage().ifPresent(names::add);
        for (String name : names) {
            // The runtime resolves short names ("busybox" -> docker.io/library/busybox:latest).
            cri.image(name).map(Image::getId).ifPresent(needed::add);
        }
        return needed;
    }

    private Optional<Integer> usedPercent() {
        try {
            FileStore store = Files.getFileStore(settings.diskPath());
            if (store.getTotalSpace() <= 0) {
                return Optional.empty();
            }
            return Optional.of((int) (100 - store.getUsableSpace() * 100 / store.getTotalSpace()));
        } catch (IOException e) {
            return Optional.empty();
        }
    }
}
