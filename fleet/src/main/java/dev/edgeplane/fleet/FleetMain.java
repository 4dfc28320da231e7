package dev.edgeplane.fleet;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * A simulator JVM: {@code java -jar fleet/target/fleet.jar --join HOST:PORT --token ID.SECRET --agents N
 * [--offset O] [--prefix sim] [--source 127.0.0.2] [--join-concurrency 32] [--metrics on|off]
 * [--metrics-history 1h] [--events on|off] [--event-loops 2]}.
 *
 * <p>It makes the agents' keys, prints {@code ready}, then answers one command per stdin line with one
 * line on stdout, {@code ok ...} or {@code err <why>}:
 * <pre>
 * join                      join every agent (asynchronously; see stats)
 * connect                   open every joined agent's Sync stream
 * stats                     key=value figures (Fleet.stats)
 * mark                      "since the mark" figures count from now; answers mark_us=
 * metrics on|off            start/stop ReportMetrics on every agent
 * metrics-history SECONDS   simulated history uploaded when metrics start
 * partition FROM TO         agents [FROM, TO) of this JVM lose their link (TCP reset) and stay offline
 * heal                      partitioned agents reconnect
 * gc                        collect this JVM's garbage now (System.gc), between measurements
 * watch ID NS/APP IMAGE     record when each agent acks a revision where APP runs IMAGE
 * watch-count ID            ok n=K (how many agents acked it so far: cheap to poll)
 * watch-times ID            ok n=K times=T1,T2,... (epoch microseconds)
 * unwatch ID
 * digest                    every agent's name@acked:key=template-hash,... joined by ';'
 * exit
 * </pre>
 * End of stdin (the driver died) stops the simulator too: no agent outlives its driver.
 */
public final class FleetMain {
    private FleetMain() {}

    public static void main(String[] args) throws Exception {
        FleetSettings settings;
        try {
            settings = parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("fleet: " + e.getMessage());
            System.exit(2);
            return;
        }
        PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true, StandardCharsets.UTF_8);
        System.setOut(System.err); // only answers on stdout; anything else printed goes to the log
        try (Fleet fleet = new Fleet(settings)) {
            fleet.prepare();
            out.println("ready agents=" + settings.agents());
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            String line;
            while ((line = in.readLine()) != null) {
                String[] words = line.trim().split("\\s+");
                if (words[0].equals("exit")) {
                    out.println("ok");
                    break;
                }
                String answer;
                try {
                    answer = "ok " + execute(fleet, words);
                } catch (RuntimeException e) {
                    answer = "err " + String.valueOf(e.getMessage()).replace('\n', ' ');
                }
                out.println(answer.strip());
            }
        }
        System.exit(0); // the event loop's threads are daemons, but gRPC's are not all
    }

    private static String execute(Fleet fleet, String[] w) {
        switch (w[0]) {
            case "join" -> {
                try {
                    fleet.joinAll();
                } catch (Exception e) {
                    throw new IllegalStateException("cannot start joining: " + e, e);
                }
                return "";
            }
            case "connect" -> {
                fleet.connectAll();
                return "";
            }
            case "stats" -> {
                return fleet.stats();
            }
            case "mark" -> {
                return "mark_us=" + fleet.mark();
            }
            case "metrics" -> {
                fleet.setMetrics(onOff(arg(w, 1)));
                return "";
            }
            case "metrics-history" -> {
                fleet.setMetricsHistory(Duration.ofSeconds(Long.parseLong(arg(w, 1))));
                return "";
            }
            case "partition" -> {
                return "partitioned=" + fleet.partition(Integer.parseInt(arg(w, 1)), Integer.parseInt(arg(w, 2)));
            }
            case "heal" -> {
                return "healed=" + fleet.heal();
            }
            case "gc" -> {
                System.gc();
                return "";
            }
            case "watch" -> {
                String app = arg(w, 2);
                int slash = app.indexOf('/');
                if (slash < 0) {
                    throw new IllegalArgumentException("watch wants NAMESPACE/APP, not " + app);
                }
                fleet.watch(arg(w, 1), app.substring(0, slash), app.substring(slash + 1), arg(w, 3));
                return "";
            }
            case "watch-count" -> {
                return "n=" + fleet.watchCount(arg(w, 1));
            }
            case "watch-times" -> {
                long[] times = fleet.watchTimes(arg(w, 1));
                return "n=" + times.length + " times=" + Arrays.stream(times).mapToObj(Long::toString).collect(Collectors.joining(","));
            }
            case "unwatch" -> {
                fleet.unwatch(arg(w, 1));
                return "";
            }
            case "digest" -> {
                return fleet.digest();
            }
            default -> throw new IllegalArgumentException("unknown command " + w[0]);
        }
    }

    private static String arg(String[] w, int i) {
        if (w.length <= i) {
            throw new IllegalArgumentException(w[0] + ": missing argument " + i);
        }
        return w[i];
    }

    private static boolean onOff(String s) {
        return switch (s) {
            case "on" -> true;
            case "off" -> false;
            default -> throw new IllegalArgumentException("on or off, not " + s);
        };
    }

    static FleetSettings parse(String[] args) {
        Map<String, String> flags = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--") || i + 1 >= args.length) {
                throw new IllegalArgumentException("expected --flag value, got " + args[i]);
            }
            flags.put(args[i].substring(2), args[++i]);
        }
        String join = required(flags, "join");
        String token = required(flags, "token");
        FleetSettings settings = new FleetSettings(join, token,
                Integer.parseInt(required(flags, "agents")),
                Integer.parseInt(flags.getOrDefault("offset", "0")),
                flags.getOrDefault("prefix", "sim"),
                Optional.ofNullable(flags.get("source")),
                Integer.parseInt(flags.getOrDefault("join-concurrency", "32")),
                onOff(flags.getOrDefault("metrics", "off")),
                duration(flags.getOrDefault("metrics-history", "0s")),
                onOff(flags.getOrDefault("events", "on")),
                Integer.parseInt(flags.getOrDefault("event-loops", "2")),
                AgentTimings.AGENT);
        for (String k : flags.keySet()) {
            if (!java.util.Set.of("join", "token", "agents", "offset", "prefix", "source", "join-concurrency", "metrics",
                    "metrics-history", "events", "event-loops").contains(k)) {
                throw new IllegalArgumentException("unknown flag --" + k);
            }
        }
        return settings;
    }

    private static String required(Map<String, String> flags, String name) {
        String v = flags.get(name);
        if (v == null) {
            throw new IllegalArgumentException("--" + name + " is required");
        }
        return v;
    }

    /** 90s, 5m, 1h, or plain seconds. */
    static Duration duration(String s) {
        char unit = s.charAt(s.length() - 1);
        if (Character.isDigit(unit)) {
            return Duration.ofSeconds(Long.parseLong(s));
        }
        long n = Long.parseLong(s.substring(0, s.length() - 1));
        return switch (unit) {
            case 's' -> Duration.ofSeconds(n);
            case 'm' -> Duration.ofMinutes(n);
            case 'h' -> Duration.ofHours(n);
            default -> throw new IllegalArgumentException("a duration like 90s, 5m or 1h, not " + s);
        };
    }
}
