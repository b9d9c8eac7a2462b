"""Target URL validation: examples and hypothesis properties (unit tests, no services)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from flask import Flask
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from service.links.validation import (
    MAX_URL_LENGTH,
    ValidationError,
    service_hosts,
    validate_target_url,
)

PROPERTY_SETTINGS = settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def refused(value: object, **kwargs: object) -> str:
    """The message for the ``url`` field, failing the test if ``value`` passes."""
    with pytest.raises(ValidationError) as caught:
        validate_target_url(value, **kwargs)  # type: ignore[arg-type]
    assert caught.value.status == 422
    assert set(caught.value.errors) == {"url"}
    return caught.value.errors["url"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://example.com", "https://example.com"),
        ("http://example.com/path?q=1#top", "http://example.com/path?q=1#top"),
        ("  https://example.com/  \n", "https://example.com/"),
        ("HTTPS://Example.COM/CasePath", "https://example.com/CasePath"),
        ("https://example.com:443/", "https://example.com/"),
        ("http://example.com:80/", "http://example.com/"),
        ("https://example.com:8443/x", "https://example.com:8443/x"),
        ("https://bücher.de/straße", "https://xn--bcher-kva.de/stra%C3%9Fe"),
        ("https://BÜCHER.de/", "https://xn--bcher-kva.de/"),
        ("https://例え.テスト/", "https://xn--r8jz45g.xn--zckzah/"),
        ("https://xn--bcher-kva.de/", "https://xn--bcher-kva.de/"),
        ("https://example.com/a b", "https://example.com/a%20b"),
        ("https://example.com/?q=ä", "https://example.com/?q=%C3%A4"),
        ("https://example.com/100%", "https://example.com/100%25"),
        ("https://example.com/%E2%82%AC", "https://example.com/%E2%82%AC"),
        ("http://192.0.2.1/", "http://192.0.2.1/"),
        ("http://[2001:DB8::1]:8080/", "http://[2001:db8::1]:8080/"),
        ("http://intranet_host.example/", "http://intranet_host.example/"),
        ("https://example.com./", "https://example.com./"),
    ],
)
def test_accepted_urls_are_canonical(given: str, expected: str) -> None:
    assert validate_target_url(given) == expected
    assert validate_target_url(expected) == expected


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("javascript:alert(1)", "Only http:// and https://"),
        ("JavaScript:alert(1)", "Only http:// and https://"),
        (" \tjavascript:alert(1)", "Only http:// and https://"),
        ("java\tscript:alert(1)", "control characters"),
        ("java\nscript:alert(1)", "control characters"),
        ("\x00javascript:alert(1)", "control characters"),
        ("data:text/html,<script>alert(1)</script>", "Only http:// and https://"),
        ("file:///etc/passwd", "Only http:// and https://"),
        ("ftp://example.com/", "Only http:// and https://"),
        ("//evil.example/", "Scheme-relative"),
        ("\\\\evil.example/", "Scheme-relative"),
        ("example.com/path", "Start the URL with http"),
        ("/relative/path", "Start the URL with http"),
        ("https://", "needs a host"),
        ("https:///path", "needs a host"),
        ("http:/example.com", "needs a host"),
        ("https://user:pw@example.com/", "user name or password"),
        ("https://example.com@evil.example/", "user name or password"),
        ("https://good.example\\@evil.example/", "user name or password"),
        ("https://evil.example\\.good.example/", "host name is not valid"),
        ("https://exa mple.com/", "host name is not valid"),
        ("https://-bad.example/", "host name is not valid"),
        ("https://a..b/", "host name is not valid"),
        ("https://xn--zz.example/", "international domain name"),
        ("http://256.1.1.1/", "IPv4"),
        ("http://example.123/", "IPv4"),
        ("http://[::1/", "not a valid URL"),
        ("http://[fe80::1%25eth0]/", "zone"),
        ("https://example.com:0/", "Port 0"),
        ("https://example.com:99999/", "not a valid URL"),
        ("", "Enter the URL"),
        ("   ", "Enter the URL"),
        ("https://example.com/" + "a" * MAX_URL_LENGTH, "at most 2048"),
    ],
)
def test_refused_urls_say_why(given: str, message: str) -> None:
    assert message in refused(given)


def test_encoding_may_push_a_url_over_the_limit() -> None:
    assert "after encoding" in refused("https://example.com/" + "ä" * 1000)


def test_non_text_is_refused() -> None:
    assert "as text" in refused(None)
    assert "as text" in refused(b"https://example.com")


def test_the_field_name_is_configurable() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_target_url("javascript:1", field="target")
    assert set(caught.value.errors) == {"target"}


@pytest.mark.parametrize(
    "url",
    [
        "https://sho.rt/abc123",
        "http://sho.rt/abc123",
        "https://SHO.RT:8443/abc123?utm=x",
        "https://sho.rt/%61bc",  # the router decodes the path before matching /<slug>
        "https://sho.rt./x",
    ],
)
def test_links_to_our_own_short_urls_are_refused(url: str) -> None:
    assert "loop" in refused(url, own_hosts={"sho.rt"})


@pytest.mark.parametrize(
    "url",
    [
        "https://sho.rt/",
        "https://sho.rt/dashboard",
        "https://sho.rt/api/v1/links",
        "https://sho.rt/a/b",
        "https://other.example/abc123",
    ],
)
def test_other_pages_of_our_own_host_are_fine(url: str) -> None:
    assert validate_target_url(url, own_hosts={"sho.rt"})


def test_service_hosts_are_the_public_url_and_the_request_host() -> None:
    app = Flask(__name__)
    app.config["PUBLIC_URL"] = "https://Sho.RT"
    with app.test_request_context("/", base_url="http://127.0.0.1:8080"):
        assert service_hosts() == {"sho.rt", "127.0.0.1"}
        assert "loop" in refused("http://127.0.0.1:8101/abc", own_hosts=service_hosts())
    assert service_hosts() == set()


# -- properties ---------------------------------------------------------------------------------

_PREFIXES = st.text(alphabet=" \t\r\n\x00\x01\x0b\x0c\x1f\x7f\u0085\u00a0\u2028", max_size=4)
_DANGEROUS = st.sampled_from(["javascript", "data", "file", "vbscript"])


@st.composite
def mixed_case(draw: st.DrawFn, strategy: st.SearchStrategy[str]) -> str:
    word = draw(strategy)
    flips = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
    return "".join(ch.upper() if flip else ch for ch, flip in zip(word, flips, strict=True))


@st.composite
def sprinkled(draw: st.DrawFn, word: str) -> str:
    """``word`` with tabs, newlines or other control characters inserted here and there."""
    out = []
    for ch in word:
        out.append(draw(st.sampled_from(["", "", "", "\t", "\n", "\r", "\x00", "\x1f"])))
        out.append(ch)
    return "".join(out)


def _check_accepted(result: str) -> None:
    parts = urlsplit(result)
    assert parts.scheme in {"http", "https"}
    assert parts.hostname
    assert result.isascii()
    assert len(result) <= MAX_URL_LENGTH
    assert validate_target_url(result) == result  # canonical: validating again changes nothing


@PROPERTY_SETTINGS
@given(st.text(max_size=300))
@example("https://example.com/")
@example("http://[::1]/")
@example("https://\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45\u3002com/")  # full-width
@example("https://\u200bexample.com/")
@example("http://a%2Fb/")
def test_any_text_is_accepted_canonically_or_refused_with_a_validation_error(text: str) -> None:
    try:
        result = validate_target_url(text)
    except ValidationError as error:
        errors = error.errors
    else:
        _check_accepted(result)
        return
    assert set(errors) == {"url"}
    assert errors["url"]


_URLISH = st.builds(
    lambda scheme, host, rest: f"{scheme}://{host}{rest}",
    st.sampled_from(["http", "https", "HTTP", "hTtPs"]),
    st.text(min_size=1, max_size=40),
    st.text(max_size=80),
)


@PROPERTY_SETTINGS
@given(_URLISH)
def test_url_shaped_text_is_accepted_canonically_or_refused(text: str) -> None:
    try:
        result = validate_target_url(text)
    except ValidationError:
        return
    _check_accepted(result)


@PROPERTY_SETTINGS
@given(
    prefix=_PREFIXES,
    scheme=_DANGEROUS.flatmap(lambda word: mixed_case(st.just(word))),
    rest=st.text(max_size=60),
)
def test_dangerous_schemes_are_always_refused(prefix: str, scheme: str, rest: str) -> None:
    with pytest.raises(ValidationError):
        validate_target_url(f"{prefix}{scheme}:{rest}")


@PROPERTY_SETTINGS
@given(
    scheme=_DANGEROUS.flatmap(lambda word: sprinkled(word)),
    rest=st.text(max_size=60),
)
def test_dangerous_schemes_hidden_by_control_characters_are_refused(scheme: str, rest: str) -> None:
    with pytest.raises(ValidationError):
        validate_target_url(f"{scheme}:{rest}")


_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)


@PROPERTY_SETTINGS
@given(
    scheme=st.sampled_from(["http", "https"]),
    labels=st.lists(_LABEL, min_size=1, max_size=4),
    tld=st.from_regex(r"[a-z]{2,6}", fullmatch=True),
    path=st.text(max_size=100),
)
def test_well_formed_urls_keep_their_host(
    scheme: str, labels: list[str], tld: str, path: str
) -> None:
    host = ".".join([*labels, tld])
    url = f"{scheme}://{host}/{path.lstrip('/')}"
    try:
        result = validate_target_url(url)
    except ValidationError as error:
        message = error.errors["url"]
    else:
        assert urlsplit(result).hostname == host
        _check_accepted(result)
        return
    assert "control characters" in message  # only the path can be at fault
