"""The seal of bids: sealed contents open only with the call's private key, which a quorum of committee members
rebuilds from their passphrase-protected shares."""

import pytest

from app.domain import sealing


def test_sealed_content_opens_with_the_private_key_only():
    pair, other = sealing.new_key_pair(), sealing.new_key_pair()
    box = sealing.seal(pair.public, b"amount 123456.78")
    assert b"123456.78" not in box
    assert sealing.unseal(pair.private, box) == b"amount 123456.78"
    with pytest.raises(sealing.SealError):
        sealing.unseal(other.private, box)


@pytest.mark.parametrize("chosen", [(0, 1), (0, 2), (1, 2)])
def test_any_two_shares_of_three_rebuild_the_key(chosen):
    pair = sealing.new_key_pair()
    shares = sealing.split_key(pair.private)
    assert len(shares) == 3 and all(len(share) == 32 for _, share in shares)
    assert sealing.combine_key([shares[i] for i in chosen], pair.public) == pair.private


def test_one_share_is_not_the_key():
    pair = sealing.new_key_pair()
    shares = sealing.split_key(pair.private)
    with pytest.raises(sealing.SealError):
        sealing.combine_key([shares[0]], pair.public)
    assert all(pair.private[:16] not in share and pair.private[16:] not in share for _, share in shares)


def test_member_key_opens_with_its_passphrase_and_refuses_another():
    member = sealing.enrol_member("correct horse battery", "minimum")
    private = sealing.member_private_key(member, "correct horse battery")
    box = sealing.seal(member.public, b"share")
    assert sealing.unseal(private, box) == b"share"
    with pytest.raises(sealing.SealError):
        sealing.member_private_key(member, "correct horse batterz")


def test_secret_wrap_needs_the_same_key():
    key, other = b"k" * 32, b"o" * 32
    wrapped = sealing.secret_wrap(key, b"private key")
    assert sealing.secret_unwrap(key, wrapped) == b"private key"
    with pytest.raises(sealing.SealError):
        sealing.secret_unwrap(other, wrapped)
