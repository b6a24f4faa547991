// Controller: wires the view's user intents to the API and decides what to show.
import * as api from "./api.js";
import { API_URL } from "./config.js";
import { classDisplayName } from "./format.js";
import { errorTemplate } from "./templates.js";
import { View } from "./view.js";

const PAGE_SIZE = 10;
const RECORD_HASH = /^#\/records\/(\d+)$/;

function messageOf(error) {
  // ApiError messages are written for people; anything else is a bug worth reporting.
  return error instanceof api.ApiError
    ? error.message
    : `Something went wrong in the page: ${error?.message ?? error}. Reload and try again.`;
}

export class App {
  constructor(view) {
    this.view = view;
    this.offset = 0;
    this.busy = false;
    this.current = null; // the record shown in the result panel
    // Incremented per result request, so a slow answer cannot overwrite a newer choice.
    this.resultTicket = 0;
    this.recordsTicket = 0;
  }

  async start() {
    this.view.showApiUrl(API_URL);
    this.view.bindFileChosen((file) => this.upload(file));
    this.view.bindOpenRecord((id) => this.openRecord(id));
    this.view.bindPageTurn((direction) => this.turnPage(direction));
    this.view.bindRefresh(() => this.refresh());
    this.view.bindSignIn((key) => this.signIn(key));
    this.view.bindSignOut(() => this.signOut());
    window.addEventListener("hashchange", () => this.openRecordFromHash());

    this.view.renderEmptyResult();
    if (await this.checkHealth()) await this.openRecordFromHash();
  }

  /** Check the API, then the key, then load the records (or say why they cannot be). */
  async checkHealth() {
    this.view.setApiStatus("checking");
    try {
      await api.health();
      this.view.setApiStatus("online");
    } catch (error) {
      if (error instanceof api.ApiError && error.kind === "http") {
        this.view.setApiStatus("unhealthy");
      }
      this.reportFailure(error);
      this.view.renderRecordsError("Records are unavailable until the API answers.");
      return false;
    }
    return this.resumeSession();
  }

  /** With a stored key: show who it belongs to and load the records. */
  async resumeSession() {
    if (!api.apiKey()) {
      this.showSignedOut();
      return false;
    }
    try {
      this.view.showSignedIn(await api.me());
    } catch (error) {
      this.reportFailure(error);
      return false;
    }
    await this.loadRecords();
    return true;
  }

  async signIn(key) {
    this.view.clearError();
    api.setApiKey(key);
    if (await this.checkHealth()) await this.openRecordFromHash();
  }

  signOut() {
    api.clearApiKey();
    this.view.clearError();
    this.view.showNotice("Signed out.");
    this.showSignedOut();
  }

  showSignedOut() {
    // Drop everything the last key could see; answers still in flight are ignored.
    this.current = null;
    this.resultTicket += 1;
    this.recordsTicket += 1;
    this.view.renderEmptyResult();
    this.view.showSignedOut();
    this.view.renderRecordsError("Sign in with your API key to see the records.");
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }

  async refresh() {
    this.view.clearError();
    await this.checkHealth();
  }

  async upload(file) {
    if (this.busy) return;
    if (!api.apiKey()) {
      this.view.showError("Sign in with your API key before uploading an image.");
      return;
    }
    this.busy = true;
    this.resultTicket += 1;
    this.view.clearError();
    this.view.setBusy(true);
    this.view.renderPending(file);
    try {
      const record = await api.classify(file);
      this.resultTicket += 1; // a record opened meanwhile must not replace the new result
      this.view.setApiStatus("online");
      this.show(record);
      this.view.showNotice(
        `Classified ${record.filename || file.name} as ${classDisplayName(record.label)} (record #${record.id}).`,
      );
      this.offset = 0; // the new record is the newest, on the first page
      await this.loadRecords();
    } catch (error) {
      this.restoreResult();
      this.reportFailure(error);
    } finally {
      this.busy = false;
      this.view.setBusy(false);
    }
  }

  async openRecord(id) {
    const ticket = ++this.resultTicket;
    this.view.clearError();
    try {
      const record = await api.getRecord(id);
      if (ticket !== this.resultTicket) return;
      this.show(record);
      this.view.focusResult();
    } catch (error) {
      if (ticket === this.resultTicket) this.reportFailure(error);
    }
  }

  async openRecordFromHash() {
    const match = RECORD_HASH.exec(window.location.hash);
    if (match && String(this.current?.id) !== match[1]) await this.openRecord(match[1]);
  }

  show(record) {
    this.current = record;
    this.view.renderResult(record);
    this.view.markSelectedRecord(record.id);
    // A shareable address for the record on screen, without adding history entries.
    history.replaceState(null, "", `#/records/${encodeURIComponent(record.id)}`);
    this.loadImage(record);
  }

  /** The image needs the key, so it is fetched and handed to the view as a Blob. */
  async loadImage(record) {
    const ticket = this.resultTicket;
    try {
      const image = await api.getRecordImage(record.id);
      if (ticket === this.resultTicket && this.current === record) {
        this.view.renderResult(record, image);
      }
    } catch {
      // The result stays readable without its picture; the placeholder says so.
    }
  }

  restoreResult() {
    if (this.current) this.show(this.current);
    else this.view.renderEmptyResult();
  }

  async turnPage(direction) {
    const step = direction === "older" ? PAGE_SIZE : -PAGE_SIZE;
    this.offset = Math.max(0, this.offset + step);
    await this.loadRecords();
  }

  async loadRecords() {
    const ticket = ++this.recordsTicket;
    this.view.setRecordsLoading();
    try {
      let page = await api.listRecords({ offset: this.offset, limit: PAGE_SIZE });
      // Records can disappear between pages; step back instead of showing an empty page.
      if (page.data.length === 0 && this.offset > 0 && page.count > 0) {
        this.offset = Math.floor((page.count - 1) / PAGE_SIZE) * PAGE_SIZE;
        page = await api.listRecords({ offset: this.offset, limit: PAGE_SIZE });
      }
      if (ticket !== this.recordsTicket) return;
      this.view.renderRecords({
        records: page.data,
        offset: this.offset,
        count: page.count,
        selectedId: this.current?.id ?? null,
      });
    } catch (error) {
      if (ticket !== this.recordsTicket) return;
      this.view.renderRecordsError("Records could not be loaded.");
      this.reportFailure(error);
    }
  }

  reportFailure(error) {
    if (error instanceof api.ApiError && error.status === 401) {
      // A refused key (wrong, or revoked meanwhile) is forgotten; the form asks again.
      api.clearApiKey();
      this.showSignedOut();
    }
    if (error instanceof api.ApiError && error.kind !== "http") {
      // Nothing usable came back: "offline" if nothing answered, "blocked" for CORS.
      this.view.setApiStatus(error.kind === "unreachable" ? "offline" : "blocked");
    }
    this.view.showError(messageOf(error));
  }
}

new App(new View(document)).start().catch((error) => {
  // Last resort: never leave the reader with a silent page.
  const region = document.querySelector("#alert-region");
  if (region) region.innerHTML = errorTemplate(messageOf(error));
});
