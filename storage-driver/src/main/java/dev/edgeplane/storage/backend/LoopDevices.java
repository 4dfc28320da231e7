package dev.edgeplane.storage.backend;

import dev.edgeplane.storage.host.Commands;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** losetup(8): attach files as block devices, find them again by backing file, detach them. */
public final class LoopDevices {
    private final Commands commands;

    public LoopDevices(Commands commands) {
        this.commands = commands;
    }

    /** Every loop device backed by this file (normally zero or one). */
    public List<String> find(Path file) {
        List<String> devices = new ArrayList<>();
        for (Map.Entry<String, Path> e : all().entrySet()) {
            if (e.getValue().equals(file.toAbsolutePath().normalize())) {
                devices.add(e.getKey());
            }
        }
        return devices;
    }

    /** Device name to backing file, for every attached loop device on the host. */
    public Map<String, Path> all() {
        Map<String, Path> result = new LinkedHashMap<>();
        String out = commands.check("losetup", "--list", "--noheadings", "--raw", "--output", "NAME,BACK-FILE");
        for (String line : out.split("\n")) {
            String l = line.strip();
            int space = l.indexOf(' ');
            if (space <= 0) {
                continue;
            }
            String file = l.substring(space + 1).strip();
            if (file.endsWith(" (deleted)")) {
                file = file.substring(0, file.length() - " (deleted)".length());
            }
            result.put(l.substring(0, space), Path.of(unescapeRaw(file)));
        }
        return result;
    }

    /** --raw output writes unsafe bytes (spaces included) as \xHH. */
    static String unescapeRaw(String s) {
        if (!s.contains("\\x")) {
            return s;
        }
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        byte[] in = s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        for (int i = 0; i < in.length; i++) {
            if (in[i] == '\\' && i + 3 < in.length && in[i + 1] == 'x') {
                try {
                    out.write(Integer.parseInt(new String(in, i + 2, 2, java.nio.charset.StandardCharsets.US_ASCII), 16));
                    i += 3;
                    continue;
                } catch (NumberFormatException notHex) {
                    // keep the backslash as it is
                }
            }
            out.write(in[i]);
        }
        return out.toString(java.nio.charset.StandardCharsets.UTF_8);
    }

    public String attach(Path file) {
        return commands.check("losetup", "--find", "--show", file.toString()).strip();
    }

    public void detach(String device) {
        commands.check("losetup", "--detach", device);
    }

    /** Makes the device see the new size of its grown backing file. */
    public void refreshCapacity(String device) {
        commands.check("losetup", "--set-capacity", device);
    }
}
