//! Phoenix.Token `sign`/`verify`, byte-compatible with Plug.Crypto (work in progress).
