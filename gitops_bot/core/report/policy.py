"""The policy gate's part of an environment's comment.

Owns: the Markdown that tells a reviewer where the gate stands and what is
missing ("needs 1 more approval from @acme/sre"), with the sentences of
core.policy.Decision, and a cap on its length. Refuses: deciding anything.
"""

from __future__ import annotations

from gitops_bot.core.policy.verdict import Decision, Verdict

MAX_CHARS = 3000  # what review keeps free in part 1 of a comment for this section
_ICON = {Verdict.SUCCESS: "✅", Verdict.PENDING: "⏳", Verdict.FAILURE: "❌"}


def section(decision: Decision) -> str:
    lines = [
        f"**Policy** (`{decision.context}`, rules from the base branch): "
        f"{_ICON[decision.state]} {decision.state.value}: {decision.description}"
    ]
    lines += [f"- {reason}" for reason in decision.reasons]
    lines += [f"- _{note}_" for note in decision.notes]
    text = "\n".join(lines)
    if len(text) > MAX_CHARS:
        text = text[: MAX_CHARS - 40].rsplit("\n", 1)[0] + "\n- _(more left out)_"
    return text
