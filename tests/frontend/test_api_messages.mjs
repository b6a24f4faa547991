// api.js turns every failure into a message a person can act on; fetch is stubbed here.
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";

import { ApiError, classify, getRecord, listRecords } from "../../frontend/api.js";
import { API_URL } from "../../frontend/config.js";

const realFetch = globalThis.fetch;
afterEach(() => {
  globalThis.fetch = realFetch;
});

function respondWith(status, body, contentType = "application/problem+json") {
  globalThis.fetch = async () =>
    new Response(typeof body === "string" ? body : JSON.stringify(body), {
      status,
      headers: { "Content-Type": contentType },
    });
}

function problem(status, detail) {
  return { type: "about:blank", title: "x", status, detail, instance: "/classify" };
}

const upload = new File(["not an image"], "notes.txt", { type: "text/plain" });

test("a network failure says the API cannot be reached, and where it was looked for", async () => {
  globalThis.fetch = async () => {
    throw new TypeError("Failed to fetch");
  };
  await assert.rejects(listRecords(), (error) => {
    assert.ok(error instanceof ApiError);
    assert.equal(error.kind, "unreachable");
    assert.equal(error.message, `Cannot reach the medimg API at ${API_URL}; is it running?`);
    return true;
  });
});

test("an answer withheld by CORS is told apart from an API that is down", async () => {
  globalThis.fetch = async (url, init = {}) => {
    // Only the opaque no-cors probe gets through, as when the origin is not allowed.
    if (init.mode === "no-cors") return new Response(null, { status: 200 });
    throw new TypeError("Failed to fetch");
  };
  await assert.rejects(listRecords(), (error) => {
    assert.equal(error.kind, "blocked");
    assert.match(error.message, /answered, but the browser blocked its response/);
    assert.match(error.message, /MEDIMG_CORS_ORIGINS/);
    return true;
  });
});

test("415 says the type is unsupported and keeps the server's detail", async () => {
  respondWith(415, problem(415, "The file is not a PNG, JPEG or DICOM image."));
  await assert.rejects(classify(upload), {
    message: "Unsupported file type. The file is not a PNG, JPEG or DICOM image.",
  });
});

test("413 says the file is too large", async () => {
  respondWith(413, problem(413, "The file is larger than the 20,971,520-byte upload limit."));
  await assert.rejects(classify(upload), /File too large\. The file is larger/);
});

test("422 shows the server's detail as it is", async () => {
  respondWith(422, problem(422, "The image could not be decoded."));
  await assert.rejects(classify(upload), { message: "The image could not be decoded." });
});

test("an error without a problem body still names the HTTP status", async () => {
  respondWith(502, "<html>Bad gateway</html>", "text/html");
  await assert.rejects(getRecord(1), /HTTP 502/);
});

test("records are requested with offset and limit", async () => {
  let requested = "";
  globalThis.fetch = async (url) => {
    requested = String(url);
    return Response.json({ data: [], count: 0 });
  };
  assert.deepEqual(await listRecords({ offset: 20, limit: 10 }), { data: [], count: 0 });
  assert.equal(requested, `${API_URL}/records?offset=20&limit=10`);
});
