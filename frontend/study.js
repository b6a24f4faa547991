// A DICOM study's slices, as the study view shows them. Pure: no DOM, no network.
//
// Records carry the salted hashes of their study and series UIDs (never the UIDs), and no
// instance number yet: slices are ordered by `instance_number` where a record has one, and
// otherwise as they arrived (GET /records?sort=oldest), which is how a modality or a PACS
// pull sends a series.

// The triage order of GET /records?sort=suspicion (api/services/records.py): suspected
// tumours first, then indeterminate, then no tumour, then images without a finding.
const SUSPICION_RANK = { tumour_suspected: 0, indeterminate: 1, no_tumour: 2 };
const NO_FINDING_RANK = 3;

/** An image not read for tumours has no finding to rank, whatever the model stored. */
function suspicionRank(record) {
  if (record?.suitability === "out_of_distribution") return NO_FINDING_RANK;
  return SUSPICION_RANK[record?.finding] ?? NO_FINDING_RANK;
}

// A slice without a number sorts after those with one (and among them, as it arrived).
function instanceNumber(record) {
  const value = record?.instance_number;
  const number = value === null || value === undefined || value === "" ? Number.NaN : Number(value);
  return Number.isFinite(number) ? number : Number.POSITIVE_INFINITY;
}

/**
 * The study's series, each with its slices in order: [{series, slices}]. Series come in the
 * order their first slice arrived; `records` in arrival order (oldest first).
 */
export function seriesOf(records) {
  const bySeries = new Map();
  for (const [arrival, record] of (records ?? []).entries()) {
    const key = record.series_uid_hash ?? "";
    if (!bySeries.has(key)) bySeries.set(key, []);
    bySeries.get(key).push({ record, arrival });
  }
  return [...bySeries.entries()].map(([series, items]) => ({
    series,
    slices: items
      .sort((a, b) => instanceNumber(a.record) - instanceNumber(b.record) || a.arrival - b.arrival)
      .map((item) => item.record),
  }));
}

/** Every slice in viewing order: series by series, each in instance order. */
export function orderSlices(records) {
  return seriesOf(records).flatMap((series) => series.slices);
}

/**
 * The study-level result: its most suspicious slice (the highest tumour probability among
 * suspected tumours, and so on down the triage order), or null for an empty study.
 */
export function leadingSlice(records) {
  let lead = null;
  for (const record of records ?? []) {
    if (lead === null || moreSuspicious(record, lead)) lead = record;
  }
  return lead;
}

function moreSuspicious(record, than) {
  const rank = suspicionRank(record) - suspicionRank(than);
  if (rank !== 0) return rank < 0;
  const probability = (value) => (suspicionRank(value) < NO_FINDING_RANK ? Number(value.tumour_probability) || 0 : 0);
  return probability(record) > probability(than);
}

/**
 * The slice `step` places from `currentId` in `ordered` (-1 the previous, 1 the next), or
 * null past either end or when the current record is not one of them.
 */
export function neighbourSlice(ordered, currentId, step) {
  const list = ordered ?? [];
  const at = list.findIndex((record) => String(record.id) === String(currentId));
  if (at < 0) return null;
  return list[at + step] ?? null;
}
