package dev.edgeplane.storage.mount;

import dev.edgeplane.storage.host.Commands;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Logger;

/** mount(8)/umount(8) with the checks that make every call safe to repeat. */
public final class Mounter {
    private static final Logger LOG = Logger.getLogger(Mounter.class.getName());
    private final Commands commands;
    private final MountTable table;

    public Mounter(Commands commands, MountTable table) {
        this.commands = commands;
        this.table = table;
    }

    public MountTable table() {
        return table;
    }

    public void mount(String source, Path target, String fsType, List<String> options) {
        List<String> cmd = new ArrayList<>(List.of("mount", "-t", fsType));
        if (!options.isEmpty()) {
            cmd.add("-o");
            cmd.add(String.join(",", options));
        }
        cmd.add(source);
        cmd.add(target.toString());
        commands.check(Commands.DEFAULT_TIMEOUT, cmd);
        LOG.info(() -> "mounted " + source + " (" + fsType + ") on " + target);
    }

    /** A bind mount; read-only needs a second remount step, which the kernel requires for binds. */
    public void bind(Path source, Path target, boolean readOnly) {
        commands.check("mount", "--bind", source.toString(), target.toString());
        if (readOnly) {
            commands.check("mount", "-o", "remount,bind,ro", target.toString());
        }
        LOG.info(() -> "bound " + source + " on " + target + (readOnly ? " read-only" : ""));
    }

    public void remountBindReadOnly(Path target) {
        commands.check("mount", "-o", "remount,bind,ro", target.toString());
    }

    /** Removes every mount stacked on the path; a no-op when nothing is mounted there. */
    public void unmountAll(Path target) {
        for (int i = table.at(target).size(); i > 0; i--) {
            commands.check("umount", target.toString());
        }
        LOG.fine(() -> "unmounted " + target);
    }

    /** Leaves exactly one mount on the path, taking off whatever was stacked above the first. */
    public void unmountExtra(Path target) {
        for (int i = table.at(target).size(); i > 1; i--) {
            commands.check("umount", target.toString());
            LOG.warning("removed a double mount on " + target);
        }
    }

    /** Thaws a filesystem frozen by fsfreeze; quietly does nothing when it is not frozen. */
    public void thaw(Path mountPoint) {
        commands.run("fsfreeze", "--unfreeze", mountPoint.toString());
    }

    public boolean isMounted(Path target) {
        return !table.at(target).isEmpty();
    }
}
