"""GitHub's facts that both the descriptor and the adapter's parts use.

Owns: the default API URL and the comment size limit. Refuses: anything that
needs the SDK (so the descriptor, which imports this, stays cheap to load).
"""

from __future__ import annotations

COMMENT_LIMIT = 65_536  # characters in a comment or pull request body
API_URL = "https://api.github.com"
