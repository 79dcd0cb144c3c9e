// The plugin's JSON routes (docs/api.md). URLs are relative to the entry page's
// <base href="plugin/stuck/">, so they work under any TensorBoard --path_prefix.

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

// GET /data/plugin/stuck/runs -> {runs: [...]}, most urgent first.
export function fetchRuns() {
  return getJson("./runs");
}

// GET /data/plugin/stuck/report?run=NAME -> one run's report.
export function fetchReport(run) {
  return getJson(`./report?run=${encodeURIComponent(run)}`);
}

// Fetches JSON; a network failure or an HTTP error becomes an ApiError with a readable message.
async function getJson(url) {
  let response;
  try {
    response = await fetch(url, { headers: { Accept: "application/json" } });
  } catch (error) {
    throw new ApiError(`TensorBoard did not answer (${error.message})`, 0);
  }
  if (!response.ok) {
    throw new ApiError(await errorMessage(response), response.status);
  }
  try {
    return await response.json();
  } catch {
    throw new ApiError("TensorBoard sent a response that is not JSON", response.status);
  }
}

// The plugin answers errors with {"error": "message"}; anything else is named by its status.
async function errorMessage(response) {
  try {
    const body = await response.json();
    if (body && typeof body.error === "string") return body.error;
  } catch {
    // Not JSON: fall through to the status line.
  }
  return `HTTP ${response.status} ${response.statusText}`.trim();
}
