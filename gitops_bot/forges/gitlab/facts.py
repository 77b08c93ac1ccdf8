"""GitLab's facts that both the descriptor and the adapter's parts use.

Owns: the default API URL and the comment size limit. Refuses: anything that
needs the SDK (so the descriptor, which imports this, stays cheap to load).
"""

from __future__ import annotations

COMMENT_LIMIT = 1_000_000  # characters of a note body
API_URL = "https://gitlab.com"
