package dev.edgeplane.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageOrBuilder;
import com.google.protobuf.util.JsonFormat;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.util.List;

/** Prints resources as an aligned table (the default), JSON or YAML. */
final class Output {

    /** wide: the table with more columns where a command has them (get apps), else the table. */
    enum Format {
        table, wide, json, yaml;

        boolean isTable() {
            return this == table || this == wide;
        }
    }

    /** Jackson (~400 classes, a tenth of a table's start-up) is loaded only by -o yaml. */
    private static final class Yaml {
        static final ObjectMapper JSON = new ObjectMapper();
        static final ObjectMapper YAML = new ObjectMapper(
                new YAMLFactory().disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
                        .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES));
    }

    private Output() {}

    static String json(MessageOrBuilder message) {
        try {
            return JsonFormat.printer().print(message);
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalStateException(e);
        }
    }

    static void print(PrintWriter out, Format format, List<? extends MessageOrBuilder> items,
            List<String> header, java.util.function.Function<MessageOrBuilder, List<String>> row) {
        switch (format) {
            case table, wide -> table(out, header, items.stream().map(row).toList());
            case json -> {
                if (items.size() == 1) {
                    out.println(json(items.get(0)));
                } else {
                    out.println("[" + String.join(",\n", items.stream().map(Output::json).toList()) + "]");
                }
            }
            case yaml -> {
                for (int i = 0; i < items.size(); i++) {
                    if (i > 0) {
                        out.println("---");
                    }
                    out.print(yaml(items.get(i)));
                }
            }
        }
        out.flush();
    }

    static String yaml(MessageOrBuilder message) {
        try {
            JsonNode tree = Yaml.JSON.readTree(json(message));
            return Yaml.YAML.writeValueAsString(tree);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void table(PrintWriter out, List<String> header, List<List<String>> rows) {
        int[] widths = new int[header.size()];
        for (int i = 0; i < widths.length; i++) {
            widths[i] = header.get(i).length();
            for (List<String> r : rows) {
                widths[i] = Math.max(widths[i], r.get(i).length());
            }
        }
        line(out, header, widths);
        rows.forEach(r -> line(out, r, widths));
        out.flush();
    }

    private static void line(PrintWriter out, List<String> cells, int[] widths) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < cells.size(); i++) {
            sb.append(cells.get(i));
            if (i < cells.size() - 1) {
                sb.append(" ".repeat(widths[i] - cells.get(i).length() + 3));
            }
        }
        out.println(sb.toString().stripTrailing());
    }
}
