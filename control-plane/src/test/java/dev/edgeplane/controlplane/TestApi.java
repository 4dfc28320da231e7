package dev.edgeplane.controlplane;

import dev.edgeplane.api.v1.AppServiceGrpc;
import dev.edgeplane.api.v1.ConfigMapServiceGrpc;
import dev.edgeplane.api.v1.ImagePrefetchServiceGrpc;
import dev.edgeplane.api.v1.JoinTokenServiceGrpc;
import dev.edgeplane.api.v1.NodeServiceGrpc;
import dev.edgeplane.api.v1.SecretServiceGrpc;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.options.GetOption;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.AbstractStub;
import io.grpc.stub.MetadataUtils;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.eclipse.microprofile.config.ConfigProvider;

/** Clients a test needs: the public API (with the admin token) and etcd itself, closed together. */
public final class TestApi implements AutoCloseable {
    public final ManagedChannel channel;
    public final Client etcd;
    public final String adminToken;

    public TestApi() {
        var config = ConfigProvider.getConfig();
        int port = config.getValue("quarkus.http.test-port", Integer.class);
        channel = NettyChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
        etcd = Client.builder().endpoints(config.getValue("edgeplane.etcd.endpoints", String.class)).build();
        try {
            adminToken = Files.readString(Path.of(config.getValue("edgeplane.admin-token-file", String.class))).trim();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static int agentPort() {
        return ConfigProvider.getConfig().getValue("edgeplane.agent.port", Integer.class);
    }

    public <S extends AbstractStub<S>> S withToken(S stub, String token) {
        Metadata headers = new Metadata();
        headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
        return stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers)).withDeadlineAfter(20, TimeUnit.SECONDS);
    }

    public AppServiceGrpc.AppServiceBlockingStub apps() {
        return withToken(AppServiceGrpc.newBlockingStub(channel), adminToken);
    }

    public ImagePrefetchServiceGrpc.ImagePrefetchServiceBlockingStub imagePrefetches() {
        return withToken(ImagePrefetchServiceGrpc.newBlockingStub(channel), adminToken);
    }

    public NodeServiceGrpc.NodeServiceBlockingStub nodes() {
        return withToken(NodeServiceGrpc.newBlockingStub(channel), adminToken);
    }

    public ConfigMapServiceGrpc.ConfigMapServiceBlockingStub configMaps() {
        return withToken(ConfigMapServiceGrpc.newBlockingStub(channel), adminToken);
    }

    public SecretServiceGrpc.SecretServiceBlockingStub secrets() {
        return withToken(SecretServiceGrpc.newBlockingStub(channel), adminToken);
    }

    public JoinTokenServiceGrpc.JoinTokenServiceBlockingStub tokens() {
        return withToken(JoinTokenServiceGrpc.newBlockingStub(channel), adminToken);
    }

    /** Number of etcd keys under {@code prefix}, read directly from etcd. */
    public long etcdCount(String prefix) {
        try {
            return etcd.getKVClient().get(ByteSequence.from(prefix, StandardCharsets.UTF_8),
                    GetOption.builder().isPrefix(true).withCountOnly(true).build()).get(10, TimeUnit.SECONDS).getCount();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    public byte[] etcdGet(String key) {
        try {
            var kvs = etcd.getKVClient().get(ByteSequence.from(key, StandardCharsets.UTF_8)).get(10, TimeUnit.SECONDS).getKvs();
            return kvs.isEmpty() ? null : kvs.get(0).getValue().getBytes();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** Polls {@code condition} until it holds or {@code timeout} passes. */
    public static void await(String what, Duration timeout, BooleanSupplier condition) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + timeout + " waiting for " + what);
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted waiting for " + what);
            }
        }
    }

    @Override
    public void close() {
        channel.shutdownNow();
        try {
            channel.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        etcd.close();
    }
}
