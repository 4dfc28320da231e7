package dev.edgeplane.storage;

import dev.edgeplane.csi.v1.CapacityRange;
import dev.edgeplane.csi.v1.CreateVolumeRequest;
import dev.edgeplane.csi.v1.NodePublishVolumeRequest;
import dev.edgeplane.csi.v1.NodeStageVolumeRequest;
import dev.edgeplane.csi.v1.NodeUnpublishVolumeRequest;
import dev.edgeplane.csi.v1.NodeUnstageVolumeRequest;
import dev.edgeplane.csi.v1.VolumeCapability;
import dev.edgeplane.csi.v1.VolumeContentSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;

/** Small builders for the CSI requests tests send, and file I/O that reaches the disk. */
final class Requests {
    static final long MIB = 1024 * 1024;

    private Requests() {
    }

    static VolumeCapability mount(String fsType) {
        return VolumeCapability.newBuilder()
                .setMount(VolumeCapability.MountVolume.newBuilder().setFsType(fsType))
                .setAccessMode(VolumeCapability.AccessMode.newBuilder()
                        .setMode(VolumeCapability.AccessMode.Mode.SINGLE_NODE_WRITER))
                .build();
    }

    static CreateVolumeRequest.Builder create(String name, long bytes, Map<String, String> params) {
        return CreateVolumeRequest.newBuilder().setName(name)
                .setCapacityRange(CapacityRange.newBuilder().setRequiredBytes(bytes))
                .addVolumeCapabilities(mount(""))
                .putAllParameters(params);
    }

    static CreateVolumeRequest restore(String name, long bytes, Map<String, String> params, String snapshotId) {
        return create(name, bytes, params).setVolumeContentSource(VolumeContentSource.newBuilder()
                .setSnapshot(VolumeContentSource.SnapshotSource.newBuilder().setSnapshotId(snapshotId))).build();
    }

    static NodeStageVolumeRequest stage(String id, Path staging) {
        return NodeStageVolumeRequest.newBuilder().setVolumeId(id).setStagingTargetPath(staging.toString())
                .setVolumeCapability(mount("")).build();
    }

    static NodePublishVolumeRequest publish(String id, Path staging, Path target, boolean readOnly) {
        return NodePublishVolumeRequest.newBuilder().setVolumeId(id).setStagingTargetPath(staging.toString())
                .setTargetPath(target.toString()).setVolumeCapability(mount("")).setReadonly(readOnly).build();
    }

    static NodeUnpublishVolumeRequest unpublish(String id, Path target) {
        return NodeUnpublishVolumeRequest.newBuilder().setVolumeId(id).setTargetPath(target.toString()).build();
    }

    static NodeUnstageVolumeRequest unstage(String id, Path staging) {
        return NodeUnstageVolumeRequest.newBuilder().setVolumeId(id).setStagingTargetPath(staging.toString()).build();
    }

    /** Writes {@code bytes} of non-zero data and fsyncs, so space is really taken. */
    static void writeFile(Path file, long bytes) throws IOException {
        byte[] chunk = new byte[(int) MIB];
        for (int i = 0; i < chunk.length; i++) {
            chunk[i] = (byte) (i * 31 + 7);
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            long left = bytes;
            while (left > 0) {
                ByteBuffer buf = ByteBuffer.wrap(chunk, 0, (int) Math.min(left, chunk.length));
                while (buf.hasRemaining()) {
                    left -= ch.write(buf);
                }
            }
            ch.force(true);
        }
    }
}
