"""The wall-time learning-rate schedule and the extra data mix."""

import pytest

FIXTURE_PNG = "000051652-1_2_1.png"


def test_cosine_learning_rate_follows_the_wall_time_budget():
    from zoo.training.omr import learning_rate_at

    assert learning_rate_at(1e-3, "constant", 0.7) == 1e-3
    assert learning_rate_at(1e-3, "cosine", 0.0) == pytest.approx(1e-3)
    assert learning_rate_at(1e-3, "cosine", 0.5) == pytest.approx(0.51e-3)
    assert learning_rate_at(1e-3, "cosine", 1.0) == learning_rate_at(1e-3, "cosine", 2.0) == pytest.approx(2e-5)
    with pytest.raises(ValueError, match="unknown schedule .linear."):
        learning_rate_at(1e-3, "linear", 0.5)


def test_extra_sources_need_one_share_each_and_leave_the_staff_data_some(tmp_path):
    from zoo.training.omr import extra_sources

    assert extra_sources([], []) == ([], [])
    assert extra_sources([tmp_path], [0.15]) == ([str(tmp_path)], [0.15])
    with pytest.raises(ValueError, match="one share per extra_data folder"):
        extra_sources([str(tmp_path), str(tmp_path)], [0.15])
    with pytest.raises(ValueError, match="together < 1"):
        extra_sources([str(tmp_path), str(tmp_path)], [0.6, 0.4])
    with pytest.raises(FileNotFoundError, match="staff-keys"):
        extra_sources([str(tmp_path / "staff-keys")], [0.1])
