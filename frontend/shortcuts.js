// Keyboard shortcuts for reviewing. Pure: maps a key press to an intent, or null.

/** Keys in fields are text, not commands. */
const TYPING_TAGS = new Set(["INPUT", "TEXTAREA", "SELECT"]);

/**
 * keyEvent: {key, ctrlKey, metaKey, altKey, targetTag}; classes: the model's classes in
 * order (1 corrects to the first). Returns {action: "confirm"|"reject"|"next"} or
 * {action: "correct", label}, or null.
 */
export function shortcutFor(keyEvent, classes) {
  if (keyEvent.ctrlKey || keyEvent.metaKey || keyEvent.altKey) return null;
  if (TYPING_TAGS.has(String(keyEvent.targetTag ?? "").toUpperCase())) return null;
  const key = String(keyEvent.key ?? "").toLowerCase();
  if (key === "c") return { action: "confirm" };
  if (key === "r") return { action: "reject" };
  if (key === "n") return { action: "next" };
  const index = Number.parseInt(key, 10);
  if (String(index) === key && index >= 1 && index <= classes.length) {
    return { action: "correct", label: classes[index - 1] };
  }
  return null;
}

/** The help text shown beside the review buttons. */
export function shortcutHelp(classes) {
  const numbers = classes.length ? `1–${classes.length} correct to a class, ` : "";
  return `Keys: C confirm, ${numbers}R reject, N next unreviewed.`;
}
