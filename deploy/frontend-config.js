// Mounted over frontend/config.js by docker-compose.yml (the nginx "frontend" service).
// The API is published on port 8000 of the same host the SPA is loaded from, so this works
// for localhost and for a server name alike; that origin must be in MEDIMG_CORS_ORIGINS.
// Keep the exports identical to frontend/config.js.
export const API_URL = `${window.location.protocol}//${window.location.hostname}:8000`;
