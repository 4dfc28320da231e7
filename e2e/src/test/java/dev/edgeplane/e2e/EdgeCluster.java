package dev.edgeplane.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.edgeplane.api.v1.GetNodeRequest;
import dev.edgeplane.api.v1.NodeStatus;
import dev.edgeplane.testkit.Containerd;
import dev.edgeplane.testkit.EtcdServer;
import dev.edgeplane.testkit.Registry;
import dev.edgeplane.testkit.TestImages;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A whole small installation on this machine: etcd, a registry holding the test image, the control
 * plane, and one joined edge host whose agent drives a real containerd.
 */
final class EdgeCluster implements AutoCloseable {
    static final Duration CONVERGE = Duration.ofSeconds(90);

    final EtcdServer etcd;
    final Containerd containerd;
    final Registry registry;
    final ControlPlane cloud;
    final EdgeHost host;
    final Cri cri;
    /** The busybox test image as pushed to the registry: pulled through CRI like any app's. */
    final String image;

    private EdgeCluster(EtcdServer etcd, Containerd containerd, Registry registry, ControlPlane cloud,
            EdgeHost host, Cri cri, String image) {
        this.etcd = etcd;
        this.containerd = containerd;
        this.registry = registry;
        this.cloud = cloud;
        this.host = host;
        this.cri = cri;
        this.image = image;
    }

    static EdgeCluster start(Path dir, String nodeName, List<String> agentFlags) throws Exception {
        List<AutoCloseable> started = new ArrayList<>();
        try {
            EtcdServer etcd = add(started, EtcdServer.start());
            Containerd containerd = add(started, Containerd.start());
            Registry registry = add(started, Registry.start());
            String image = registry.push(TestImages.BUSYBOX.archive(), "edgeplane/busybox:1");
            ControlPlane cloud = add(started, ControlPlane.start(etcd.endpoint(), dir.resolve("cp")));
            Cri cri = add(started, new Cri(containerd.endpoint()));
            EdgeHost host = add(started,
                    new EdgeHost(nodeName, dir.resolve(nodeName), containerd.endpoint(), agentFlags));
            var join = host.join(cloud.createJoinToken(Duration.ofMinutes(5), 1).getStatus().getJoinCommand());
            assertEquals(0, join.exitCode(), join.output());
            host.start();
            EdgeCluster cluster = new EdgeCluster(etcd, containerd, registry, cloud, host, cri, image);
            cluster.awaitNodeReady();
            return cluster;
        } catch (Exception | AssertionError e) {
            java.util.Collections.reverse(started);
            try {
                closeAll(started);
            } catch (Exception cleanup) {
                e.addSuppressed(cleanup);
            }
            throw e;
        }
    }

    void awaitNodeReady() {
        Await.until("node " + host.name() + " READY", CONVERGE, host::logTail, () -> cloud.nodes()
                .getNode(GetNodeRequest.newBuilder().setName(host.name()).build())
                .getStatus().getPhase() == NodeStatus.Phase.READY);
    }

    @Override
    public void close() throws Exception {
        closeAll(List.of(host, cloud, cri, registry, containerd, etcd));
    }

    private static <T extends AutoCloseable> T add(List<AutoCloseable> started, T c) {
        started.add(c);
        return c;
    }

    private static void closeAll(List<AutoCloseable> closeables) throws Exception {
        Exception first = null;
        for (AutoCloseable c : closeables) {
            try {
                c.close();
            } catch (Exception e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
