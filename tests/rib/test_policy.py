"""Import/export policy: matches, sets, order, chains, and the identity of what comes out."""

from __future__ import annotations

import gc
import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pybgp.rib.policy import (
    ACCEPT_ALL,
    Chain,
    PolicyDefinition,
    PrefixMatch,
    Term,
    as_path_text,
    compile_chain,
)
from pybgp.wire.attributes import PathAttributes
from pybgp.wire.constants import (
    AS_CONFED_SEQUENCE,
    AS_SEQUENCE,
    AS_SET,
    IPV4_UNICAST,
    IPV6_UNICAST,
    NO_EXPORT,
    Family,
)
from pybgp.wire.nlri import prefix_key


def c(text: str) -> int:
    """'65000:100' -> its 32-bit community value."""
    high, low = text.split(":")
    return int(high) << 16 | int(low)


def entry(text: str) -> PrefixMatch:
    """'10.0.0.0/8 16 24' -> PrefixMatch with ge 16, le 24 (already resolved)."""
    prefix, ge, le = text.split()
    return PrefixMatch(ipaddress.ip_network(prefix), int(ge), int(le))


def chain(*terms: Term, default_accept: bool = True) -> Chain:
    definition = PolicyDefinition("p", tuple(terms), default_accept)
    return compile_chain(["p"], {"p": definition})


def family_of(prefix: str) -> Family:
    return IPV6_UNICAST if ":" in prefix else IPV4_UNICAST


def run(policy: Chain, prefix: str, attributes: PathAttributes) -> PathAttributes | None:
    return policy.apply(family_of(prefix), prefix_key(prefix), attributes)


def accepted(policy: Chain, prefix: str, attributes: PathAttributes | None = None) -> bool:
    return run(policy, prefix, attributes or PathAttributes()) is not None


BASE = PathAttributes(
    origin=0,
    as_path=((AS_SEQUENCE, (64512, 64513)),),
    next_hop=b"\xc6\x12\x00\x02",
    communities=(c("65000:100"), NO_EXPORT),
    large_communities=((64512, 1, 2),),
)


# -- prefix lists ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "prefix", "expected"),
    [
        # exact: 10.244.0.0/16 only
        ("10.244.0.0/16 16 16", "10.244.0.0/16", True),
        ("10.244.0.0/16 16 16", "10.244.0.0/17", False),
        ("10.244.0.0/16 16 16", "10.0.0.0/8", False),
        ("10.244.0.0/16 16 16", "10.245.0.0/16", False),
        # ge 26 le 26: only /26 inside
        ("10.244.0.0/16 26 26", "10.244.1.64/26", True),
        ("10.244.0.0/16 26 26", "10.244.255.192/26", True),
        ("10.244.0.0/16 26 26", "10.244.1.0/25", False),
        ("10.244.0.0/16 26 26", "10.244.1.0/27", False),
        ("10.244.0.0/16 26 26", "10.245.1.64/26", False),
        # le 24: /16 to /24 (both ends included)
        ("10.244.0.0/16 16 24", "10.244.0.0/16", True),
        ("10.244.0.0/16 16 24", "10.244.7.0/24", True),
        ("10.244.0.0/16 16 24", "10.244.7.0/25", False),
        ("10.244.0.0/16 16 24", "10.0.0.0/8", False),
        # ge 30 (to 32)
        ("10.244.0.0/16 30 32", "10.244.3.4/30", True),
        ("10.244.0.0/16 30 32", "10.244.3.4/32", True),
        ("10.244.0.0/16 30 32", "10.244.3.0/29", False),
        # odd lengths across an octet boundary
        ("10.244.0.0/15 15 23", "10.245.254.0/23", True),
        ("10.244.0.0/15 15 23", "10.246.0.0/23", False),
        # the default route and "everything"
        ("0.0.0.0/0 0 0", "0.0.0.0/0", True),
        ("0.0.0.0/0 0 0", "10.0.0.0/8", False),
        ("0.0.0.0/0 0 32", "198.18.0.1/32", True),
        # IPv6
        ("2001:db8::/32 32 64", "2001:db8::/32", True),
        ("2001:db8::/32 32 64", "2001:db8:ffff:1::/64", True),
        ("2001:db8::/32 32 64", "2001:db8:ffff:1::/65", False),
        ("2001:db8::/32 32 64", "2001:db9::/48", False),
        ("2001:db8::/32 48 128", "2001:db8:1::/48", True),
        ("2001:db8::/32 48 128", "2001:db8::1/128", True),
        ("2001:db8::/32 48 128", "2001:db8::/47", False),
        ("::/0 0 0", "::/0", True),
        # a list of one family never matches the other's routes
        ("10.0.0.0/8 8 32", "2001:db8::/32", False),
        ("::/0 0 128", "10.0.0.0/8", False),
    ],
)
def test_prefix_list_bounds(spec: str, prefix: str, expected: bool) -> None:
    policy = chain(Term(accept=True, prefixes=(entry(spec),)), default_accept=False)
    assert accepted(policy, prefix) is expected


def test_any_entry_of_the_list_matches() -> None:
    entries = (entry("10.244.0.0/16 26 26"), entry("2001:db8::/32 32 64"))
    policy = chain(Term(accept=True, prefixes=entries), default_accept=False)
    assert accepted(policy, "10.244.3.0/26")
    assert accepted(policy, "2001:db8:1::/48")
    assert not accepted(policy, "10.244.3.0/24")
    assert not accepted(policy, "2001:db8:1::/96")


def test_a_key_longer_than_the_family_allows_matches_nothing() -> None:
    policy = chain(Term(accept=True, prefixes=(entry("0.0.0.0/0 0 32"),)), default_accept=False)
    assert policy.apply(IPV4_UNICAST, bytes((33,)) + bytes(5), PathAttributes()) is None
    assert policy.apply(IPV4_UNICAST, b"", PathAttributes()) is None


def _network(version: int) -> st.SearchStrategy[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    bits = 32 if version == 4 else 128
    make = ipaddress.IPv4Network if version == 4 else ipaddress.IPv6Network

    @st.composite
    def build(draw: st.DrawFn) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        length = draw(st.integers(0, bits))
        address = draw(st.integers(0, 2**bits - 1))
        return make((address, length), strict=False)

    return build()


@st.composite
def entries_and_route(
    draw: st.DrawFn,
) -> tuple[list[PrefixMatch], ipaddress.IPv4Network | ipaddress.IPv6Network]:
    version = draw(st.sampled_from([4, 6]))
    bits = 32 if version == 4 else 128
    entries = []
    for network in draw(st.lists(_network(version), min_size=1, max_size=4)):
        ge = draw(st.integers(network.prefixlen, bits))
        le = draw(st.integers(ge, bits))
        entries.append(PrefixMatch(network, ge, le))
    # Routes near the entries are the interesting ones: often take a subnet of one.
    near = draw(st.sampled_from(entries)).prefix
    longer = draw(st.integers(near.prefixlen, bits))
    make = ipaddress.IPv4Network if version == 4 else ipaddress.IPv6Network
    host = draw(st.integers(0, 2 ** (bits - near.prefixlen) - 1))
    inside = make((int(near.network_address) | host, longer), strict=False)
    route = draw(st.one_of(st.just(inside), _network(version)))
    return entries, route


@given(entries_and_route())
def test_prefix_matching_agrees_with_ipaddress(
    case: tuple[list[PrefixMatch], ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> None:
    entries, route = case
    expected = any(
        route.subnet_of(e.prefix) and e.ge <= route.prefixlen <= e.le  # type: ignore[arg-type]
        for e in entries
    )
    policy = chain(Term(accept=True, prefixes=tuple(entries)), default_accept=False)
    assert accepted(policy, str(route)) is expected


# -- AS_PATH --------------------------------------------------------------------------


def test_as_path_text() -> None:
    path = (
        (AS_CONFED_SEQUENCE, (65001, 65002)),
        (AS_SEQUENCE, (64512, 4200000000)),
        (AS_SET, (64600, 64601)),
    )
    assert as_path_text(path) == "(65001 65002) 64512 4200000000 {64600,64601}"
    assert as_path_text(()) == ""


def with_path(*asns: int) -> PathAttributes:
    return PathAttributes(as_path=((AS_SEQUENCE, asns),) if asns else ())


@pytest.mark.parametrize(
    ("regex", "path", "expected"),
    [
        ("_64512_", (64512,), True),
        ("_64512_", (1, 64512, 2), True),
        ("_64512_", (645120,), False),  # '_' is a boundary, not any digit run
        ("_64512_", (164512,), False),
        ("^64512_", (64512, 1), True),  # learnt from 64512
        ("^64512_", (1, 64512), False),
        ("_64512$", (1, 64512), True),  # originated by 64512
        ("_64512$", (64512, 1), False),
        ("^$", (), True),  # our own routes
        ("^$", (1,), False),
        ("^64512_64513_", (64512, 64513, 7), True),
        ("^(64512_)+$", (64512, 64512, 64512), True),  # prepends of one AS only
        ("^(64512_)+$", (64512, 64512, 1), False),
        ("645", (64512,), True),  # plain re.search: anywhere
    ],
)
def test_as_path_regex(regex: str, path: tuple[int, ...], expected: bool) -> None:
    policy = chain(Term(accept=True, as_path=regex), default_accept=False)
    assert accepted(policy, "10.0.0.0/8", with_path(*path)) is expected


def test_underscore_also_matches_set_brackets() -> None:
    policy = chain(Term(accept=True, as_path="_64601_"), default_accept=False)
    attributes = PathAttributes(as_path=((AS_SEQUENCE, (1,)), (AS_SET, (64600, 64601))))
    assert accepted(policy, "10.0.0.0/8", attributes)


# -- communities ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("required", "expected"),
    [
        ((c("65000:100"),), True),
        ((NO_EXPORT,), True),
        ((c("65000:100"), NO_EXPORT), True),  # all present
        ((c("65000:100"), c("65000:101")), False),  # one missing is enough to fail
        ((c("65000:101"),), False),
    ],
)
def test_community_match_needs_all(required: tuple[int, ...], expected: bool) -> None:
    policy = chain(Term(accept=True, communities=required), default_accept=False)
    assert accepted(policy, "10.0.0.0/8", BASE) is expected


@pytest.mark.parametrize(
    ("required", "expected"),
    [
        (((64512, 1, 2),), True),
        (((64512, 1, 3),), False),
        (((64512, 1, 2), (64512, 1, 3)), False),
    ],
)
def test_large_community_match_needs_all(
    required: tuple[tuple[int, int, int], ...], expected: bool
) -> None:
    policy = chain(Term(accept=True, large_communities=required), default_accept=False)
    assert accepted(policy, "10.0.0.0/8", BASE) is expected


def test_all_conditions_of_a_term_must_hold() -> None:
    term = Term(
        accept=True,
        prefixes=(entry("10.0.0.0/8 8 24"),),
        as_path="^64512_",
        communities=(NO_EXPORT,),
    )
    policy = chain(term, default_accept=False)
    assert accepted(policy, "10.1.0.0/16", BASE)
    assert not accepted(policy, "10.1.0.0/25", BASE)  # prefix fails
    assert not accepted(policy, "10.1.0.0/16", BASE.replace(communities=()))  # community
    assert not accepted(policy, "10.1.0.0/16", BASE.replace(as_path=()))  # AS path


# -- sets -----------------------------------------------------------------------------


def test_set_local_pref_and_med() -> None:
    policy = chain(Term(accept=True, set_local_pref=200, set_med=10))
    result = run(policy, "10.0.0.0/8", BASE)
    assert result is not None
    assert (result.local_pref, result.med) == (200, 10)
    # Everything else is untouched.
    assert result.replace(local_pref=None, med=None) == BASE


def test_remove_then_add_communities() -> None:
    term = Term(
        accept=True,
        add_communities=(c("65000:1"), c("65000:100")),  # 65000:100 is already there
        remove_communities=(NO_EXPORT, c("65000:2")),  # 65000:2 is not there
    )
    result = run(chain(term), "10.0.0.0/8", BASE)
    assert result is not None
    assert result.communities == (c("65000:100"), c("65000:1"))


def test_add_and_remove_large_communities() -> None:
    term = Term(
        accept=True,
        add_large_communities=((64512, 0, 1),),
        remove_large_communities=((64512, 1, 2),),
    )
    result = run(chain(term), "10.0.0.0/8", BASE)
    assert result is not None
    assert result.large_communities == ((64512, 0, 1),)


def test_sets_that_change_nothing_give_the_input_object() -> None:
    attributes = BASE.replace(local_pref=200, med=10)
    term = Term(
        accept=True,
        set_local_pref=200,
        set_med=10,
        add_communities=(NO_EXPORT,),
        remove_communities=(c("65000:9"),),
        add_large_communities=((64512, 1, 2),),
    )
    assert run(chain(term), "10.0.0.0/8", attributes) is attributes


def test_accept_without_sets_and_the_default_accept_give_the_input_object() -> None:
    assert run(chain(Term(accept=True)), "10.0.0.0/8", BASE) is BASE
    assert run(chain(Term(accept=False, communities=(1,))), "10.0.0.0/8", BASE) is BASE


def test_the_input_is_never_modified() -> None:
    before = BASE.replace()
    run(chain(Term(accept=True, set_med=5, add_communities=(7,))), "10.0.0.0/8", BASE)
    assert before == BASE


# -- order and defaults ---------------------------------------------------------------


def test_first_matching_term_wins() -> None:
    policy = chain(
        Term(accept=True, communities=(c("65000:999"),), set_med=1),  # does not match
        Term(accept=True, communities=(NO_EXPORT,), set_med=2),  # first that matches
        Term(accept=True, set_med=3),  # matches too, but too late
    )
    result = run(policy, "10.0.0.0/8", BASE)
    assert result is not None and result.med == 2


def test_a_reject_before_an_accept_wins() -> None:
    policy = chain(
        Term(accept=False, prefixes=(entry("10.0.0.0/8 8 32"),)),
        Term(accept=True, set_med=3),
    )
    assert run(policy, "10.1.0.0/16", BASE) is None
    result = run(policy, "192.0.2.0/24", BASE)
    assert result is not None and result.med == 3


@pytest.mark.parametrize("default_accept", [True, False])
def test_default_applies_when_no_term_matches(default_accept: bool) -> None:
    policy = chain(Term(accept=True, communities=(1,), set_med=9), default_accept=default_accept)
    result = run(policy, "10.0.0.0/8", BASE)
    assert result is (BASE if default_accept else None)


def test_no_terms_is_the_default() -> None:
    assert run(chain(default_accept=False), "10.0.0.0/8", BASE) is None
    assert run(chain(default_accept=True), "10.0.0.0/8", BASE) is BASE


# -- chains ---------------------------------------------------------------------------


def _definitions() -> dict[str, PolicyDefinition]:
    return {
        "drop-10": PolicyDefinition(
            "drop-10", (Term(accept=False, prefixes=(entry("10.0.0.0/8 8 32"),)),)
        ),
        "tag": PolicyDefinition("tag", (Term(accept=True, add_communities=(c("65000:7"),)),)),
        "pref-tagged": PolicyDefinition(
            "pref-tagged",
            (Term(accept=True, communities=(c("65000:7"),), set_local_pref=300),),
            default_accept=False,
        ),
        "reject-all": PolicyDefinition("reject-all", (), default_accept=False),
    }


def test_a_reject_in_the_first_policy_rejects() -> None:
    policy = compile_chain(["drop-10", "tag"], _definitions())
    assert run(policy, "10.1.0.0/16", BASE) is None
    result = run(policy, "192.0.2.0/24", BASE)
    assert result is not None and c("65000:7") in result.communities


def test_a_reject_in_a_later_policy_rejects() -> None:
    policy = compile_chain(["tag", "reject-all"], _definitions())
    assert run(policy, "192.0.2.0/24", BASE) is None


def test_later_policies_see_the_changes_of_earlier_ones() -> None:
    definitions = _definitions()
    result = run(compile_chain(["tag", "pref-tagged"], definitions), "192.0.2.0/24", BASE)
    assert result is not None and result.local_pref == 300
    # In the other order the community is not there yet when pref-tagged looks.
    assert run(compile_chain(["pref-tagged", "tag"], definitions), "192.0.2.0/24", BASE) is None


def test_empty_chain_is_accept_all() -> None:
    assert compile_chain([], _definitions()) is ACCEPT_ALL
    assert ACCEPT_ALL.apply(IPV4_UNICAST, prefix_key("10.0.0.0/8"), BASE) is BASE
    assert ACCEPT_ALL.prefix_dependent is False


def test_unknown_name() -> None:
    with pytest.raises(ValueError, match="no policy named 'nope'; defined: drop-10, tag"):
        compile_chain(
            ["nope"], {k: v for k, v in _definitions().items() if k in ("drop-10", "tag")}
        )


def test_bad_regex_is_a_value_error() -> None:
    definition = PolicyDefinition("p", (Term(accept=True, as_path="("),))
    with pytest.raises(ValueError, match="as-path"):
        compile_chain(["p"], {"p": definition})


def test_prefix_dependent_flag() -> None:
    definitions = _definitions()
    assert compile_chain(["drop-10", "tag"], definitions).prefix_dependent is True
    assert compile_chain(["tag", "pref-tagged"], definitions).prefix_dependent is False


def test_chains_from_equal_definitions_are_equal() -> None:
    definitions = _definitions()
    first = compile_chain(["tag", "drop-10"], definitions)
    assert first == compile_chain(["tag", "drop-10"], dict(definitions))
    assert hash(first) == hash(compile_chain(["tag", "drop-10"], definitions))
    assert first != compile_chain(["drop-10", "tag"], definitions)
    changed = dict(definitions, tag=PolicyDefinition("tag", (Term(accept=False),)))
    assert first != compile_chain(["tag", "drop-10"], changed)


def test_repr_and_describe() -> None:
    policy = compile_chain(["drop-10", "tag"], _definitions())
    assert repr(policy) == "<Chain drop-10, tag (per prefix)>"
    assert repr(ACCEPT_ALL) == "<Chain accept all>"
    text = policy.describe()
    assert "policy drop-10:\n  0: prefix 10.0.0.0/8 le 32 -> reject\n  otherwise: accept" in text
    assert "0: any -> accept (+65000:7)" in text


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        ("10.0.0.0/8 8 8", "10.0.0.0/8"),
        ("10.0.0.0/8 8 24", "10.0.0.0/8 le 24"),
        ("10.0.0.0/8 16 32", "10.0.0.0/8 ge 16"),
        ("10.0.0.0/8 16 24", "10.0.0.0/8 ge 16 le 24"),
        ("10.0.0.0/8 16 16", "10.0.0.0/8 ge 16 le 16"),
        ("2001:db8::/32 48 128", "2001:db8::/32 ge 48"),
    ],
)
def test_prefix_match_text(spec: str, text: str) -> None:
    assert str(entry(spec)) == text


# -- identity of the outputs ----------------------------------------------------------


def test_same_input_object_gives_the_same_output_object() -> None:
    policy = chain(Term(accept=True, set_med=5))
    first = run(policy, "10.0.0.0/8", BASE)
    assert first is not None and first is not BASE
    assert run(policy, "192.0.2.0/24", BASE) is first
    # An equal but distinct input may give another (equal) object.
    other = run(policy, "10.0.0.0/8", BASE.replace())
    assert other == first


def test_identity_per_matched_term_when_prefixes_count() -> None:
    policy = chain(
        Term(accept=True, prefixes=(entry("10.0.0.0/8 8 32"),), set_med=1),
        Term(accept=True, set_med=2),
    )
    in_ten = run(policy, "10.1.0.0/16", BASE)
    in_ten_again = run(policy, "10.2.0.0/16", BASE)
    elsewhere = run(policy, "192.0.2.0/24", BASE)
    elsewhere_again = run(policy, "198.51.100.0/24", BASE)
    assert in_ten is not None and elsewhere is not None
    assert (in_ten.med, elsewhere.med) == (1, 2)
    assert in_ten_again is in_ten
    assert elsewhere_again is elsewhere


def test_identity_through_a_prefix_dependent_chain_of_two() -> None:
    policy = compile_chain(["drop-10", "tag"], _definitions())
    first = run(policy, "192.0.2.0/24", BASE)
    assert first is not None
    assert run(policy, "198.51.100.0/24", BASE) is first
    assert run(policy, "2001:db8::/32", BASE) is first


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_a_small_memo_still_gives_right_answers(limit: int) -> None:
    definition = PolicyDefinition(
        "p",
        (
            Term(accept=False, prefixes=(entry("10.0.0.0/8 8 32"),)),
            Term(accept=True, communities=(NO_EXPORT,), set_med=1),
        ),
    )
    policy = compile_chain(["p"], {"p": definition}, memo_limit=limit)
    inputs = [BASE.replace(med=n) for n in range(10)] + [PathAttributes(med=n) for n in range(5)]
    for _ in range(3):
        for attributes in inputs:
            assert run(policy, "10.0.0.0/8", attributes) is None
            result = run(policy, "192.0.2.0/24", attributes)
            if NO_EXPORT in attributes.communities:
                assert result is not None and result.med == 1
                assert result.replace(med=attributes.med) == attributes
            else:
                assert result is attributes


def test_a_freed_input_whose_id_is_reused_is_not_confused() -> None:
    policy = chain(Term(accept=True, communities=(NO_EXPORT,), set_med=1))
    # Many short-lived objects: ids get reused, and a stale hit would give a wrong MED.
    for n in range(200):
        attributes = PathAttributes(med=n, communities=(NO_EXPORT,) if n % 2 else ())
        result = run(policy, "192.0.2.0/24", attributes)
        assert result is not None
        assert result.med == (1 if n % 2 else n)
        del attributes, result
        if n % 50 == 0:
            gc.collect()
