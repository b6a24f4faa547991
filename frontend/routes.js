// The SPA's addresses. Pure: the controller maps window.location.hash to a screen here.

const RECORD_ROUTE = /^#\/records\/(\d+)$/;

/** "#/records/12" -> {screen: "record", id: "12"}; "#/dashboard" -> {screen: "dashboard"}. */
export function parseRoute(hash) {
  const text = String(hash ?? "");
  const record = RECORD_ROUTE.exec(text);
  if (record) return { screen: "record", id: record[1] };
  if (text === "#/dashboard") return { screen: "dashboard" };
  // The workspace (upload and worklist) is the home screen: anything unknown lands there.
  return { screen: "workspace" };
}

export function recordHash(id) {
  return `#/records/${encodeURIComponent(id)}`;
}
