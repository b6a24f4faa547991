// api.js sends the signed-in key as a Bearer header and turns a refusal into one message.
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";

import {
  ApiError,
  KEY_REFUSED_MESSAGE,
  apiKey,
  clearApiKey,
  listRecords,
  me,
  setApiKey,
} from "../../frontend/api.js";
import { sessionTemplate } from "../../frontend/templates.js";

const realFetch = globalThis.fetch;
afterEach(() => {
  globalThis.fetch = realFetch;
  clearApiKey();
});

function recordHeaders() {
  const seen = [];
  globalThis.fetch = async (url, init = {}) => {
    seen.push(new Headers(init.headers));
    return Response.json({ data: [], count: 0 });
  };
  return seen;
}

test("a set key is sent as a Bearer Authorization header", async () => {
  const seen = recordHeaders();
  setApiKey("  mdk_secret  ");

  await listRecords();

  assert.equal(apiKey(), "mdk_secret");
  assert.equal(seen[0].get("Authorization"), "Bearer mdk_secret");
});

test("after signing out no Authorization header is sent", async () => {
  const seen = recordHeaders();
  setApiKey("mdk_secret");
  clearApiKey();

  await listRecords();

  assert.equal(apiKey(), "");
  assert.equal(seen[0].has("Authorization"), false);
});

test("a 401 says the key was refused and to sign in again", async () => {
  globalThis.fetch = async () =>
    Response.json(
      { type: "about:blank", title: "Unauthorized", status: 401, detail: "x", instance: "/me" },
      { status: 401 },
    );

  await assert.rejects(me(), (error) => {
    assert.ok(error instanceof ApiError);
    assert.equal(error.status, 401);
    assert.equal(error.message, KEY_REFUSED_MESSAGE);
    assert.match(error.message, /Your API key was refused — sign in again/);
    return true;
  });
});

test("the signed-in name and role are rendered as text, never as markup", () => {
  const html = sessionTemplate({ name: "<img src=x onerror=alert(1)>", role: "admin" });

  assert.ok(html.includes("&lt;img src=x onerror=alert(1)&gt;"));
  assert.ok(!html.includes("<img"));
  assert.match(html, /data-testid="session-role">admin</);
});
