#!/usr/bin/env node
// A gRPC health check (grpc.health.v1.Health/Check) over plaintext HTTP/2,
// what the kubelet's `grpc:` probe sends: prints the status (SERVING,
// NOT_SERVING, ...) and exits 0 only for SERVING.
//   node k8s_grpc_health.js HOST:PORT [SERVICE] [--timeout_ms=N]
// Node's built-in http2 only (works on nodejs 18): no grpc library needed.
"use strict";
const http2 = require("http2");

const STATUS = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"];

function encodeRequest(service) {
  // HealthCheckRequest { string service = 1; }
  const s = Buffer.from(service, "utf8");
  if (s.length > 127) throw new Error("service name too long for this client");
  const msg = s.length ? Buffer.concat([Buffer.from([0x0a, s.length]), s]) : Buffer.alloc(0);
  const frame = Buffer.alloc(5 + msg.length);
  frame.writeUInt8(0, 0); // not compressed
  frame.writeUInt32BE(msg.length, 1);
  msg.copy(frame, 5);
  return frame;
}

function decodeResponse(buf) {
  // One length-prefixed message: HealthCheckResponse { ServingStatus status = 1; }
  if (buf.length < 5) throw new Error(`short gRPC response (${buf.length} bytes)`);
  if (buf.readUInt8(0) !== 0) throw new Error("compressed response not expected");
  const len = buf.readUInt32BE(1);
  const msg = buf.subarray(5, 5 + len);
  if (msg.length !== len) throw new Error("truncated gRPC message");
  let status = 0; // proto3: an omitted enum is 0 (UNKNOWN)
  for (let i = 0; i < msg.length;) {
    const tag = msg[i++];
    if (tag === 0x08) {
      let v = 0, shift = 0, b;
      do { b = msg[i++]; v |= (b & 0x7f) << shift; shift += 7; } while (b & 0x80);
      status = v;
    } else {
      throw new Error(`unexpected field tag 0x${tag.toString(16)} in HealthCheckResponse`);
    }
  }
  return status;
}

function check(target, service, timeoutMs) {
  return new Promise((resolve, reject) => {
    const client = http2.connect(`http://${target}`);
    const timer = setTimeout(() => { client.destroy(); reject(new Error(`timeout after ${timeoutMs} ms`)); }, timeoutMs);
    const done = (err, v) => { clearTimeout(timer); client.close(); err ? reject(err) : resolve(v); };
    client.on("error", (e) => done(e));
    const req = client.request({
      ":method": "POST",
      ":path": "/grpc.health.v1.Health/Check",
      "content-type": "application/grpc",
      te: "trailers",
    });
    const chunks = [];
    let headers = {};
    let trailers = {};
    req.on("response", (h) => { headers = h; });
    req.on("trailers", (t) => { trailers = t; });
    req.on("data", (c) => chunks.push(c));
    req.on("error", (e) => done(e));
    req.on("end", () => {
      const grpcStatus = trailers["grpc-status"] ?? headers["grpc-status"];
      if (String(grpcStatus) !== "0") {
        const m = trailers["grpc-message"] ?? headers["grpc-message"] ?? "";
        return done(new Error(`grpc-status ${grpcStatus} ${m}`.trim()));
      }
      try { done(null, decodeResponse(Buffer.concat(chunks))); } catch (e) { done(e); }
    });
    req.end(encodeRequest(service));
  });
}

async function main() {
  const args = process.argv.slice(2);
  let timeoutMs = 3000;
  const pos = [];
  for (const a of args) {
    if (a.startsWith("--timeout_ms=")) timeoutMs = Number(a.slice(13));
    else pos.push(a);
  }
  if (pos.length < 1 || pos.length > 2) {
    console.error("usage: k8s_grpc_health.js HOST:PORT [SERVICE] [--timeout_ms=N]");
    process.exit(2);
  }
  try {
    const st = await check(pos[0], pos[1] || "", timeoutMs);
    console.log(STATUS[st] || `status ${st}`);
    process.exit(st === 1 ? 0 : 1);
  } catch (e) {
    console.log(`health check of ${pos[0]} failed: ${e.message}`);
    process.exit(1);
  }
}
main();
