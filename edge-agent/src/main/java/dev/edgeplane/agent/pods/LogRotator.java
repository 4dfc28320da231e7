package dev.edgeplane.agent.pods;

import dev.edgeplane.agent.runtime.CriRuntime;
import dev.edgeplane.cri.v1.Container;
import dev.edgeplane.cri.v1.ContainerState;
import dev.edgeplane.cri.v1.ContainerStatus;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Comparator;
import java.util.List;
import java.util.logging.Logger;
import java.util.stream.Stream;

/**
 * Keeps container logs bounded on a small disk, as the kubelet's container log manager does: a
 * running container's log past {@code maxBytes} is renamed to "{@code <log>.<UTC time>}" and the runtime
 * is asked to reopen it (CRI ReopenContainerLog), so the container goes on writing to a fresh file;
 * of the rotated files the newest {@code maxFiles - 1} are kept.
 */
final class LogRotator {
    private static final Logger LOG = Logger.getLogger(LogRotator.class.getName());
    private static final DateTimeFormatter SUFFIX = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss.SSS").withZone(ZoneOffset.UTC);

    private final CriRuntime cri;
    private final long maxBytes;
    private final int maxFiles;
    private final Clock clock;

    LogRotator(CriRuntime cri, long maxBytes, int maxFiles, Clock clock) {
        this.cri = cri;
        this.maxBytes = maxBytes;
        this.maxFiles = Math.max(2, maxFiles);
        this.clock = clock;
    }

    /** One look at every running managed container; returns how many logs it rotated. */
    int rotateOnce() {
        int rotated = 0;
        for (Container container : cri.listContainers(PodLabels.managed())) {
            if (container.getState() != ContainerState.CONTAINER_RUNNING) {
                continue;
            }
            try {
                String logPath = cri.containerStatus(container.getId()).map(ContainerStatus::getLogPath).orElse("");
                if (!logPath.isEmpty() && rotate(container.getId(), Path.of(logPath))) {
                    rotated++;
                }
            } catch (IOException | StatusRuntimeException e) {
                LOG.warning("rotating the log of container " + PodWorker.shortId(container.getId()) + " failed: " + e.getMessage());
            }
        }
        return rotated;
    }

    private boolean rotate(String containerId, Path log) throws IOException {
        if (!Files.isRegularFile(log) || Files.size(log) <= maxBytes) {
            return false;
        }
        Path renamed = log.resolveSibling(log.getFileName() + "." + SUFFIX.format(clock.instant()));
        Files.move(log, renamed);
        try {
            cri.reopenContainerLog(containerId);
        } catch (StatusRuntimeException e) {
            Files.move(renamed, log); // the runtime still writes to it: put it back, try again next time
            throw e;
        }
        String prefix = log.getFileName() + ".";
        List<Path> old;
        try (Stream<Path> files = Files.list(log.getParent())) {
            old = files.filter(p -> p.getFileName().toString().startsWith(prefix))
                    .sorted(Comparator.comparing((Path p) -> p.getFileName().toString()).reversed())
                    .toList();
        }
        for (Path gone : old.subList(Math.min(old.size(), maxFiles - 1), old.size())) {
            Files.deleteIfExists(gone);
        }
        return true;
    }
}
