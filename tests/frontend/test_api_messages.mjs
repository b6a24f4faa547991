// api.js turns every failure into a message a person can act on; fetch is stubbed here.
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";

import {
  ApiError,
  classify,
  createReview,
  getHeatmapOverlay,
  getRecord,
  listRecords,
  setApiKey,
  similarRecords,
} from "../../frontend/api.js";
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

test("worklist filters are sent by name and empty ones are left out", async () => {
  let requested = "";
  globalThis.fetch = async (url) => {
    requested = String(url);
    return Response.json({ data: [], count: 0 });
  };
  await listRecords({ offset: 0, limit: 10, label: "", review_status: "unreviewed", sort: "oldest" });
  assert.equal(requested, `${API_URL}/records?offset=0&limit=10&review_status=unreviewed&sort=oldest`);
});

test("a review is posted as JSON to the record's reviews", async () => {
  let sent = null;
  globalThis.fetch = async (url, init) => {
    sent = { url: String(url), method: init.method, body: JSON.parse(init.body) };
    sent.contentType = new Headers(init.headers).get("Content-Type");
    return Response.json({ id: 1 }, { status: 201 });
  };
  await createReview(7, { action: "correct", label: "glioma", note: null });
  assert.deepEqual(sent, {
    url: `${API_URL}/records/7/reviews`,
    method: "POST",
    body: { action: "correct", label: "glioma", note: null },
    contentType: "application/json",
  });
});

test("a 403 on a review says the role may not do it", async () => {
  respondWith(403, problem(403, "This needs one of the roles: radiologist, admin."));
  await assert.rejects(createReview(7, { action: "confirm" }), {
    message: "This needs one of the roles: radiologist, admin.",
  });
});

test("the heatmap overlay is fetched with the key, the opacity asked for, as an image", async () => {
  let sent = null;
  globalThis.fetch = async (url, init) => {
    const headers = new Headers(init.headers);
    sent = { url: String(url), auth: headers.get("Authorization"), accept: headers.get("Accept") };
    return new Response(new Uint8Array([137, 80, 78, 71]), { headers: { "Content-Type": "image/png" } });
  };
  setApiKey("mdk_test");
  const blob = await getHeatmapOverlay(7, { opacity: 0.3 });
  assert.deepEqual(sent, {
    url: `${API_URL}/records/7/heatmap?format=overlay&opacity=0.3`,
    auth: "Bearer mdk_test",
    accept: "image/png",
  });
  assert.equal(blob.size, 4);
});

test("a model without explanations makes the heatmap fail with the service's reason", async () => {
  respondWith(409, problem(409, "The serving model 0.1.0 was exported without explanations."));
  await assert.rejects(getHeatmapOverlay(7, { opacity: 0.5 }), {
    status: 409,
    message: /exported without explanations/,
  });
});

test("similar cases are asked for k neighbours of the record", async () => {
  let requested = "";
  globalThis.fetch = async (url) => {
    requested = String(url);
    return Response.json({ query_record_id: 7, data: [] });
  };
  assert.deepEqual(await similarRecords(7, { k: 5 }), { query_record_id: 7, data: [] });
  assert.equal(requested, `${API_URL}/records/7/similar?k=5`);
});
