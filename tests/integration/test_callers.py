"""Who may ask the puller for a plan, against a real OIDC issuer on 127.0.0.1.

The issuer (tests/integration/oidc_issuer.py) serves discovery, JWKS and
GitHub Actions' token request over HTTPS with its own CA, and signs tokens
as GitHub does; nothing is mocked. Every refusal's text is checked to hold
neither the token nor a secret.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from jwt.warnings import InsecureKeyLengthWarning

from gitops_bot.core.pr import claims
from gitops_bot.core.pr.deliveries import sign
from gitops_bot.errors import BotError, ForgeError
from gitops_bot.forges import httpsget
from gitops_bot.forges.github import oidc as github_oidc
from gitops_bot.testing import pki
from gitops_bot.web import callers, jwks, oidc
from gitops_bot.web.poke import SIGNATURE_HEADER
from tests.integration.oidc_issuer import REPOSITORY, SHA, Issuer

AUDIENCE = "https://puller.example.test"
PLAN_SECRET = b"plan-secret-0123456789"
POKE_SECRET = b"poke-secret-9876543210"
BODY = b'{"base": "' + b"b" * 40 + b'", "head": "' + b"c" * 40 + b'", "environments": ["prod"]}'
REFS = ("refs/pull/*/merge", "refs/heads/main")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issuer]:
    server = Issuer(tmp_path_factory.mktemp("issuer"))
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _fresh(issuer: Issuer) -> None:
    issuer.jwks_down, issuer.padding, issuer.declare_length = False, 0, True


def settings(issuer: Issuer, **overrides: object) -> oidc.OidcSettings:
    binding = claims.Binding(
        repository=str(overrides.pop("repository", REPOSITORY)),
        refs=REFS,
        repository_id=overrides.pop("repository_id", "74"),  # type: ignore[arg-type]
    )
    return oidc.OidcSettings(
        audience=AUDIENCE, binding=binding, issuer=issuer.url, ca_file=issuer.ca_file
    )


def gate(issuer: Issuer, clock: Clock | None = None, **overrides: object) -> callers.Callers:
    config = settings(issuer, **overrides)
    keys = jwks.IssuerKeys(config.issuer, ca_file=config.ca_file, clock=clock or Clock())
    return callers.Callers(secret=PLAN_SECRET, verifier=oidc.OidcVerifier(config, keys=keys))


def headers(**values: str) -> Callable[[str], str | None]:
    lowered = {k.lower().replace("_", "-"): v for k, v in values.items()}
    return lambda name: lowered.get(name.lower())


def bearer(token: str) -> Callable[[str], str | None]:
    return headers(Authorization=f"Bearer {token}")


def refused(answer: callers.Caller | callers.Refused, *secrets_: str | bytes) -> str:
    assert isinstance(answer, callers.Refused), answer
    for secret in secrets_:
        text = secret.decode() if isinstance(secret, bytes) else secret
        assert text not in answer.reason
        for part in text.split("."):  # nor any part of a JWT
            assert len(part) < 8 or part not in answer.reason
    return answer.reason


# --- OIDC ---------------------------------------------------------------------------


def test_a_good_github_token_names_its_repository_ref_and_commit(issuer: Issuer) -> None:
    token = issuer.token(AUDIENCE)
    caller = gate(issuer).identify(bearer(token), BODY)
    assert isinstance(caller, callers.Caller)
    assert caller.kind == "github-oidc"
    assert caller.who == f"github-oidc {REPOSITORY}@refs/pull/7/merge {SHA[:12]}"
    assert caller.bound is not None
    assert (caller.bound.sha, caller.bound.event_name, caller.bound.run_id) == (
        SHA,
        "pull_request",
        "5001",
    )


def test_a_push_to_main_is_allowed_and_another_branch_is_not(issuer: Issuer) -> None:
    allowed = gate(issuer).identify(bearer(issuer.token(AUDIENCE, ref="refs/heads/main")), BODY)
    assert isinstance(allowed, callers.Caller)
    token = issuer.token(AUDIENCE, ref="refs/heads/evil")
    reason = refused(gate(issuer).identify(bearer(token), BODY), token)
    assert "refs/heads/evil" in reason
    assert "refs/pull/*/merge" in reason


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({"aud": "https://github.com/octo-org"}, "another audience"),
        ({"iss": "https://token.actions.githubusercontent.com"}, "another issuer"),
        ({"repository": "octo-org/other-repo"}, "'octo-org/other-repo', not octo-org/octo-repo"),
        ({"repository_id": "75"}, "repository_id is not 74"),
        ({"ref": "refs/tags/v1"}, "the ref 'refs/tags/v1' is not one of"),
        ({"exp": 1_000_000, "iat": 999_000, "nbf": 999_000}, "expired"),
        ({"nbf": 4_000_000_000}, "not valid yet"),
        ({"iat": 4_000_000_000}, "not valid yet"),
        ({"sha": None}, "lacks a required claim (sha)"),
        ({"aud": None}, "lacks a required claim (aud)"),
    ],
    ids=["aud", "iss", "repo", "repo-id", "ref", "expired", "nbf", "iat", "no-sha", "no-aud"],
)
def test_a_token_with_a_wrong_claim_is_refused(
    issuer: Issuer, overrides: dict[str, object], why: str
) -> None:
    token = issuer.token(AUDIENCE, **overrides)
    answer = gate(issuer).identify(bearer(token), BODY)
    assert why in refused(answer, token)
    assert isinstance(answer, callers.Refused)
    assert answer.status == 401


def test_the_leeway_forgives_a_clock_a_little_behind(issuer: Issuer) -> None:
    now = int(time.time())
    token = issuer.token(AUDIENCE, nbf=now + 30, iat=now + 30)
    assert isinstance(gate(issuer).identify(bearer(token), BODY), callers.Caller)


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_alg_none_and_hs256_keyed_with_the_public_key_are_refused(issuer: Issuer, alg: str) -> None:
    # The confusion attack: a verifier that let the token pick its algorithm
    # would HMAC-check it with the issuer's public key, which everyone has.
    token = issuer.forged(AUDIENCE, alg=alg, secret=issuer.public_pem())
    reason = refused(gate(issuer).identify(bearer(token), BODY), token)
    assert reason == "checking the OIDC token: the token is not signed with RS256"


def test_a_token_signed_by_an_unpublished_key_is_refused(issuer: Issuer) -> None:
    stranger = issuer.new_key()  # made, never published
    token = issuer.token(AUDIENCE, kid=stranger)
    reason = refused(gate(issuer).identify(bearer(token), BODY), token)
    assert "key id is not one of" in reason


def test_a_published_key_under_2048_bits_is_not_trusted(issuer: Issuer) -> None:
    weak = issuer.new_key(bits=1024)
    issuer.published.append(weak)
    try:
        with pytest.warns(InsecureKeyLengthWarning):  # PyJWT warns the signer too
            token = issuer.token(AUDIENCE, kid=weak)
        assert "key id is not one of" in refused(gate(issuer).identify(bearer(token), BODY), token)
    finally:
        issuer.published.remove(weak)


def test_a_token_whose_signature_is_tampered_with_is_refused(issuer: Issuer) -> None:
    token = issuer.token(AUDIENCE)
    head, payload, signature = token.split(".")
    other = issuer.token(AUDIENCE, repository="octo-org/other-repo").split(".")[1]
    forged = f"{head}.{other}.{signature}"
    reason = refused(gate(issuer).identify(bearer(forged), BODY), forged, payload)
    assert reason == "checking the OIDC token: the token's signature does not verify"


@pytest.mark.parametrize("text", ["not-a-jwt", "a.b.c", "x" * 20_000])
def test_garbage_is_refused_without_being_echoed(issuer: Issuer, text: str) -> None:
    reason = refused(gate(issuer).identify(bearer(text), BODY), text)
    assert reason.startswith("checking the OIDC token: the token is")


def test_a_rotated_key_is_picked_up_at_most_once_per_interval(issuer: Issuer) -> None:
    clock = Clock()
    puller = gate(issuer, clock)
    assert isinstance(puller.identify(bearer(issuer.token(AUDIENCE)), BODY), callers.Caller)
    verifier = puller.verifier
    assert verifier is not None
    assert verifier.keys.fetches == 1

    old = issuer.kid
    issuer.rotate()
    rotated = issuer.token(AUDIENCE)
    # Within the interval the unknown kid is refused without a fetch: a flood of
    # made-up key ids cannot make the puller hammer the issuer.
    for _ in range(5):
        assert "key id is not one of" in refused(puller.identify(bearer(rotated), BODY), rotated)
    assert verifier.keys.fetches == 1
    clock.now += jwks.REFETCH_AFTER_S
    assert isinstance(puller.identify(bearer(rotated), BODY), callers.Caller)
    assert verifier.keys.fetches == 2
    # The withdrawn key is forgotten with the refetch.
    stale = issuer.token(AUDIENCE, kid=old)
    assert "key id is not one of" in refused(puller.identify(bearer(stale), BODY), stale)


def test_concurrent_first_requests_fetch_the_keys_once(issuer: Issuer) -> None:
    puller = gate(issuer)
    token = issuer.token(AUDIENCE)
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: puller.identify(bearer(token), BODY), range(16)))
    assert all(isinstance(answer, callers.Caller) for answer in answers)
    assert puller.verifier is not None
    assert puller.verifier.keys.fetches == 1


def test_jwks_down_fails_closed_with_the_reason_and_a_503(issuer: Issuer) -> None:
    issuer.jwks_down = True
    token = issuer.token(AUDIENCE)
    answer = gate(issuer).identify(bearer(token), BODY)
    reason = refused(answer, token)
    assert isinstance(answer, callers.Refused)
    assert answer.status == 503
    assert "fetching the issuer's keys from" in reason
    assert "HTTP 503" in reason


def test_an_issuer_that_is_gone_fails_closed(tmp_path: Path) -> None:
    gone = Issuer(tmp_path)
    token = gone.token(AUDIENCE)
    puller = gate(gone)
    gone.close()
    answer = puller.identify(bearer(token), BODY)
    assert isinstance(answer, callers.Refused)
    assert answer.status == 503
    assert "fetching the OIDC discovery document from" in refused(answer, token)


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "no-length"])
def test_an_oversized_answer_is_refused(issuer: Issuer, declared: bool) -> None:
    issuer.padding, issuer.declare_length = httpsget.LIMIT_BYTES, declared
    token = issuer.token(AUDIENCE)
    reason = refused(gate(issuer).identify(bearer(token), BODY), token)
    assert f"larger than {httpsget.LIMIT_BYTES} bytes" in reason


def test_an_issuer_not_trusted_by_the_ca_file_is_refused(issuer: Issuer, tmp_path: Path) -> None:
    other_ca = pki.create(tmp_path).ca_cert
    config = settings(issuer)
    keys = jwks.IssuerKeys(config.issuer, ca_file=other_ca)
    verifier = oidc.OidcVerifier(config, keys=keys)
    answer = verifier.verify(issuer.token(AUDIENCE))
    assert isinstance(answer, oidc.TokenRefused)
    assert answer.unavailable
    assert "CERTIFICATE_VERIFY_FAILED" in answer.reason


def test_plain_http_issuers_are_refused() -> None:
    with pytest.raises(BotError, match="not an https:// URL"):
        jwks.IssuerKeys("http://127.0.0.1:1")
    with pytest.raises(httpsget.FetchError, match="only https:// is allowed"):
        httpsget.get_json("http://127.0.0.1:1/x?secret=1", what="a document")


def test_bearer_tokens_are_refused_when_no_audience_is_configured(issuer: Issuer) -> None:
    token = issuer.token(AUDIENCE)
    reason = refused(callers.Callers(secret=PLAN_SECRET).identify(bearer(token), BODY), token)
    assert "no OIDC audience is configured" in reason


# --- HMAC ---------------------------------------------------------------------------


def test_a_body_signed_with_the_plan_secret_is_accepted(issuer: Issuer) -> None:
    signed = headers(**{SIGNATURE_HEADER: sign(BODY, secret=PLAN_SECRET)})
    assert gate(issuer).identify(signed, BODY) == callers.Caller("hmac", "hmac")


@pytest.mark.parametrize(
    ("signature", "why"),
    [
        (sign(BODY, secret=POKE_SECRET), "it does not match the body"),
        (sign(BODY + b" ", secret=PLAN_SECRET), "it does not match the body"),
        ("sha1=0123", "X-Gitops-Bot-Signature-256 is not sha256=..."),
        ("", "X-Gitops-Bot-Signature-256 is missing"),
    ],
    ids=["poke-secret", "other-body", "not-sha256", "empty"],
)
def test_a_wrong_signature_is_refused(issuer: Issuer, signature: str, why: str) -> None:
    answer = gate(issuer).identify(headers(**{SIGNATURE_HEADER: signature}), BODY)
    reason = refused(answer, PLAN_SECRET, POKE_SECRET)
    assert reason == f"checking the plan request's signature: {why}"


def test_signed_requests_are_refused_when_no_plan_secret_is_configured() -> None:
    signed = headers(**{SIGNATURE_HEADER: sign(BODY, secret=b"")})
    reason = refused(callers.Callers().identify(signed, BODY))
    assert reason == "checking the plan request's signature: no plan secret is configured"


def test_a_request_without_credentials_says_how_to_give_them(issuer: Issuer) -> None:
    reason = refused(gate(issuer).identify(headers(), BODY))
    assert "X-Gitops-Bot-Signature-256" in reason
    assert "Authorization: Bearer" in reason


@pytest.mark.parametrize("value", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   "])
def test_an_authorization_that_is_not_bearer_is_refused(issuer: Issuer, value: str) -> None:
    reason = refused(gate(issuer).identify(headers(Authorization=value), BODY), "dXNlcjpwYXNz")
    assert reason == "the Authorization header is not 'Bearer <token>'"


def test_a_request_with_both_credentials_is_refused(issuer: Issuer) -> None:
    both = headers(
        Authorization=f"Bearer {issuer.token(AUDIENCE)}",
        **{SIGNATURE_HEADER: sign(BODY, secret=PLAN_SECRET)},
    )
    assert "both" in refused(gate(issuer).identify(both, BODY))


# --- The job's side: requesting the token -------------------------------------------


def actions_env(issuer: Issuer, **overrides: str) -> dict[str, str]:
    env = {
        github_oidc.REQUEST_URL: f"{issuer.url}/token?api-version=2.0",
        github_oidc.REQUEST_TOKEN: issuer.request_token,
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v}


def test_the_job_token_round_trips_through_the_puller(issuer: Issuer) -> None:
    token = github_oidc.request_token(
        actions_env(issuer), audience=AUDIENCE, ca_file=issuer.ca_file
    )
    caller = gate(issuer).identify(bearer(token), BODY)
    assert isinstance(caller, callers.Caller)
    assert caller.kind == "github-oidc"


@pytest.mark.parametrize("missing", [github_oidc.REQUEST_URL, github_oidc.REQUEST_TOKEN])
def test_a_job_without_id_token_write_is_told_so(issuer: Issuer, missing: str) -> None:
    with pytest.raises(ForgeError, match="permissions: id-token: write"):
        github_oidc.request_token(
            actions_env(issuer, **{missing: ""}), audience=AUDIENCE, ca_file=issuer.ca_file
        )


def test_a_refused_token_request_does_not_show_the_request_token(issuer: Issuer) -> None:
    env = actions_env(issuer, **{github_oidc.REQUEST_TOKEN: "wrong-request-token-123"})
    with pytest.raises(ForgeError) as caught:
        github_oidc.request_token(env, audience=AUDIENCE, ca_file=issuer.ca_file)
    text = str(caught.value)
    assert "HTTP 401" in text
    assert "wrong-request-token-123" not in text
    assert "audience" not in text  # the query is not shown either


def test_an_oversized_token_answer_is_refused(issuer: Issuer) -> None:
    issuer.padding = httpsget.LIMIT_BYTES
    with pytest.raises(ForgeError, match="larger than"):
        github_oidc.request_token(actions_env(issuer), audience=AUDIENCE, ca_file=issuer.ca_file)


def test_the_audience_is_added_to_the_query_github_gives() -> None:
    url = github_oidc.request_url("https://x.test/token?api-version=2.0&audience=old", "a b")
    assert url == "https://x.test/token?api-version=2.0&audience=a+b"
