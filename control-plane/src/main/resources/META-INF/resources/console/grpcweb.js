// gRPC-Web from the browser: the console calls the control plane's real gRPC services (the same ones edgectl
// calls, with the same bearer token and the same permissions). Requests and replies are the API's protobuf
// messages, encoded with @bufbuild/protobuf from the schema the control plane serves; the code works on their
// JSON form (the API's JSON mapping, as in manifests).
// Only the modules used, not the packages' index files: each module is one request at page load.
import { createFileRegistry } from "./vendor/protobuf/registry.js";
import { fromBinary } from "./vendor/protobuf/from-binary.js";
import { toBinary } from "./vendor/protobuf/to-binary.js";
import { fromJson } from "./vendor/protobuf/from-json.js";
import { toJson } from "./vendor/protobuf/to-json.js";
import { FileDescriptorSetSchema } from "./vendor/protobuf/wkt/google/protobuf/descriptor_pb.js";

export const CODES = ["OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
  "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
  "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"];

export class GrpcError extends Error {
  constructor(code, message) {
    super(message || "");
    this.code = code;
    this.codeName = CODES[code] ?? "CODE_" + code;
  }
}

/** The API's schema (a FileDescriptorSet), as the control plane serves it next to the console. */
export async function loadSchema() {
  const res = await fetch("api/descriptors.binpb", { cache: "no-cache", credentials: "omit" });
  if (!res.ok) {
    throw new Error("could not load the API schema: HTTP " + res.status);
  }
  return createFileRegistry(fromBinary(FileDescriptorSetSchema, new Uint8Array(await res.arrayBuffer())));
}

function frame(bytes) {
  const out = new Uint8Array(5 + bytes.length);
  new DataView(out.buffer).setUint32(1, bytes.length);
  out.set(bytes, 5);
  return out;
}

function decodeMessage(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

export class Api {
  constructor(registry, token) {
    this.registry = registry;
    this.token = token;
  }

  method(service, name) {
    const svc = this.registry.getService("edgeplane.v1." + service);
    const m = svc && svc.methods.find((x) => x.name === name);
    if (!m) {
      throw new GrpcError(12, "the API has no method " + service + "/" + name);
    }
    return { path: "/" + svc.typeName + "/" + m.name, m };
  }

  /** One unary call; request and reply in the API's JSON form. Throws GrpcError. */
  async call(service, name, request = {}) {
    const { path, m } = this.method(service, name);
    let body;
    try {
      body = frame(toBinary(m.input, fromJson(m.input, request, { registry: this.registry })));
    } catch (e) {
      throw new GrpcError(3, String(e.message || e));
    }
    const res = await fetch(path, {
      method: "POST",
      body,
      credentials: "omit",
      cache: "no-store",
      headers: {
        "content-type": "application/grpc-web+proto",
        "x-grpc-web": "1",
        "grpc-timeout": "30S",
        authorization: "Bearer " + this.token,
      },
    });
    if (!res.ok) {
      throw new GrpcError(14, "HTTP " + res.status + " from the control plane");
    }
    const bytes = new Uint8Array(await res.arrayBuffer());
    let message = null;
    let status = res.headers.get("grpc-status");
    let text = res.headers.get("grpc-message") || "";
    for (let at = 0; at + 5 <= bytes.length;) {
      const flag = bytes[at];
      const length = new DataView(bytes.buffer, bytes.byteOffset + at + 1, 4).getUint32(0);
      const payload = bytes.subarray(at + 5, at + 5 + length);
      at += 5 + length;
      if (flag & 0x80) {
        for (const line of new TextDecoder().decode(payload).split("\r\n")) {
          const colon = line.indexOf(":");
          const key = line.slice(0, colon).trim().toLowerCase();
          if (key === "grpc-status") status = line.slice(colon + 1).trim();
          if (key === "grpc-message") text = line.slice(colon + 1).trim();
        }
      } else {
        message = payload;
      }
    }
    const code = status === null ? 2 : Number(status);
    if (code !== 0) {
      throw new GrpcError(code, decodeMessage(text));
    }
    return toJson(m.output, fromBinary(m.output, message || new Uint8Array()), { registry: this.registry });
  }
}
