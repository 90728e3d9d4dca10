"""logcorr: offline correlation and budget protection for browser, Cloudflare Workers and Convex logs."""

__version__ = "0.1.0"
