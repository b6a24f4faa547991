// Where the medimg API lives. The SPA is served from its own origin, so the API
// must list this page's origin in MEDIMG_CORS_ORIGINS.
export const API_URL = "http://127.0.0.1:8000";
