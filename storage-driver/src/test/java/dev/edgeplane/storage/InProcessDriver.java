package dev.edgeplane.storage;

import java.nio.file.Path;

/** The driver opened as a library and served on a socket in the test's dir. */
public final class InProcessDriver implements AutoCloseable {
    final StorageDriver driver;
    final StorageDriverServer server;
    final CsiClient client;

    public InProcessDriver(StorageDriverConfig config, Path socket) {
        driver = StorageDriver.open(config);
        server = StorageDriverServer.start(driver, socket);
        client = new CsiClient(socket);
    }

    @Override
    public void close() throws Exception {
        client.close();
        server.close();
        driver.close();
    }
}
