"""Requirements-file parsing: pip's file semantics, model-root safety and hash rules."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import pytest

from envrun.env.requirements import (
    IndexOptions,
    ParsedRequirements,
    ReqLine,
    parse_requirement_lines,
    parse_requirements_file,
    render_requirements_txt,
)
from envrun.errors import SpecError

SHA_A = "a" * 64
SHA_B = "b" * 64
WHEEL = "demo_pkg-1.0-py3-none-any.whl"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def parse(root: Path, text: str, name: str = "requirements.txt") -> ParsedRequirements:
    write(root / name, text)
    return parse_requirements_file(Path(name), root=root)


def texts(reqs: tuple[ReqLine, ...]) -> list[str]:
    return [r.text for r in reqs]


def spec_error(root: Path, text: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        parse(root, text)
    return info.value


@pytest.fixture
def root(tmp_path: Path) -> Path:
    model = tmp_path / "model"
    model.mkdir()
    return model.resolve()


# --- lines, comments, continuations ---------------------------------------------------------


def test_plain_requirements_keep_order_origin_and_canonical_name(root: Path) -> None:
    parsed = parse(root, "numpy==1.26.4\nScikit_Learn>=1.3,<2\n")
    assert texts(parsed.requirements) == ["numpy==1.26.4", "Scikit_Learn<2,>=1.3"]
    assert [r.name for r in parsed.requirements] == ["numpy", "scikit-learn"]
    assert [r.origin for r in parsed.requirements] == ["requirements.txt:1", "requirements.txt:2"]
    assert all(r.local_path is None and r.hashes == () for r in parsed.requirements)
    assert parsed.constraints == ()
    assert parsed.index == IndexOptions()
    assert parsed.warnings == ()
    assert parsed.require_hashes is False


def test_comments_and_blank_lines_are_skipped(root: Path) -> None:
    parsed = parse(
        root,
        """
        # a full-line comment

           # an indented comment
        numpy==1.26.4   # trailing comment
        pandas==2.2.0\t# after a tab
        """,
    )
    assert texts(parsed.requirements) == ["numpy==1.26.4", "pandas==2.2.0"]
    assert [r.origin for r in parsed.requirements] == ["requirements.txt:4", "requirements.txt:5"]


def test_hash_sign_without_whitespace_before_it_is_not_a_comment(root: Path) -> None:
    parsed = parse(root, "demo @ https://host/demo.tar.gz#sha256=" + SHA_A + "\n")
    assert parsed.requirements[0].text.endswith("#sha256=" + SHA_A)


def test_backslash_continuation_joins_lines_and_reports_the_first(root: Path) -> None:
    parsed = parse(
        root, "# header\npandas[excel] >=2.0,\\\n <3 \\\n ; python_version >= '3.9'\nnumpy==1.0\n"
    )
    assert texts(parsed.requirements) == [
        'pandas[excel]<3,>=2.0; python_version >= "3.9"',
        "numpy==1.0",
    ]
    assert [r.origin for r in parsed.requirements] == ["requirements.txt:2", "requirements.txt:5"]


def test_comment_line_ends_a_continuation(root: Path) -> None:
    parsed = parse(root, "numpy==1.0 \\\n# not part of the requirement\npandas==2.0\n")
    assert texts(parsed.requirements) == ["numpy==1.0", "pandas==2.0"]


def test_continuation_on_the_last_line_is_accepted(root: Path) -> None:
    assert texts(parse(root, "numpy==1.0 \\").requirements) == ["numpy==1.0"]


def test_utf8_bom_is_ignored_and_other_encodings_are_refused(root: Path) -> None:
    (root / "requirements.txt").write_bytes(b"\xef\xbb\xbfnumpy==1.0\n")
    assert texts(parse_requirements_file(Path("requirements.txt"), root=root).requirements) == [
        "numpy==1.0"
    ]
    (root / "requirements.txt").write_bytes(b"numpy==1.0 # caf\xe9\n")
    with pytest.raises(SpecError, match="UTF-8"):
        parse_requirements_file(Path("requirements.txt"), root=root)


# --- requirement forms -----------------------------------------------------------------------


def test_markers_are_kept_not_evaluated(root: Path) -> None:
    parsed = parse(
        root,
        """
        pywin32==306 ; sys_platform == "win32"
        tomli>=2 ; python_version < "3.0"
        """,
    )
    assert texts(parsed.requirements) == [
        'pywin32==306; sys_platform == "win32"',
        'tomli>=2; python_version < "3.0"',
    ]


def test_extras_are_kept(root: Path) -> None:
    parsed = parse(root, "ray[tune,serve]==2.9.0\n")
    assert texts(parsed.requirements) == ["ray[serve,tune]==2.9.0"]
    assert parsed.requirements[0].name == "ray"


def test_url_requirement_is_passed_through(root: Path) -> None:
    parsed = parse(
        root,
        """
        demo @ https://example.org/demo-1.0.tar.gz ; python_version >= "3.8"
        tool @ git+https://example.org/tool.git@v1.2
        """,
    )
    assert texts(parsed.requirements) == [
        'demo @ https://example.org/demo-1.0.tar.gz ; python_version >= "3.8"',
        "tool @ git+https://example.org/tool.git@v1.2",
    ]
    assert [r.name for r in parsed.requirements] == ["demo", "tool"]
    assert parsed.requirements[0].local_path is None


def test_bare_urls_get_their_project_name(root: Path) -> None:
    parsed = parse(
        root,
        f"""
        https://example.org/wheels/{WHEEL}
        git+https://example.org/tool.git@v1#egg=tool
        """,
    )
    assert texts(parsed.requirements) == [
        f"demo-pkg @ https://example.org/wheels/{WHEEL}",
        "tool @ git+https://example.org/tool.git@v1#egg=tool",
    ]


def test_bare_url_without_a_project_name_is_refused(root: Path) -> None:
    error = spec_error(root, "https://example.org/download?id=3\n")
    assert "requirements.txt:1" in str(error)
    assert "name @ URL" in str(error)


def test_invalid_requirement_names_the_line_and_text(root: Path) -> None:
    error = spec_error(root, "numpy==1.0\nnot a requirement!!\n")
    assert "requirements.txt:2" in error.what
    assert error.value == "not a requirement!!"


def test_invalid_marker_is_refused(root: Path) -> None:
    with pytest.raises(SpecError, match=r"requirements.txt:1"):
        parse(root, "./dist/ ; python_versio < '3'\n")


# --- local files ------------------------------------------------------------------------------


def test_local_wheel_relative_to_root_becomes_an_absolute_file_url(root: Path) -> None:
    wheel = root / "wheels" / WHEEL
    wheel.parent.mkdir()
    wheel.write_bytes(b"wheel bytes")
    parsed = parse(root, f"wheels/{WHEEL}\n")
    [req] = parsed.requirements
    assert req.local_path == str(wheel)
    assert req.name == "demo-pkg"
    assert req.text == f"demo-pkg @ {wheel.as_uri()}"
    assert (f"wheels/{WHEEL}", hashlib.sha256(b"wheel bytes").hexdigest()) in parsed.files


def test_local_sdist_with_dot_slash_extras_and_marker(root: Path) -> None:
    sdist = root / "dist" / "my-tool-2.0.tar.gz"
    sdist.parent.mkdir()
    sdist.write_bytes(b"sdist")
    parsed = parse(root, "./dist/my-tool-2.0.tar.gz[cli] ; python_version >= '3.8'\n")
    [req] = parsed.requirements
    assert req.local_path == str(sdist)
    assert req.name == "my-tool"
    assert req.text == f'my-tool[cli] @ {sdist.as_uri()} ; python_version >= "3.8"'
    assert "dist/my-tool-2.0.tar.gz" in dict(parsed.files)


def test_local_wheel_is_resolved_against_the_root_even_from_a_subdirectory(root: Path) -> None:
    (root / "wheels").mkdir()
    (root / "wheels" / WHEEL).write_bytes(b"w")
    write(root / "reqs" / "extra.txt", f"wheels/{WHEEL}\n")
    parsed = parse(root, "-r reqs/extra.txt\n")
    assert parsed.requirements[0].local_path == str(root / "wheels" / WHEEL)


def test_named_file_url_and_relative_path_requirements_are_local(root: Path) -> None:
    (root / "wheels").mkdir()
    (root / "wheels" / WHEEL).write_bytes(b"w")
    parsed = parse(
        root,
        f"""
        demo-pkg @ file:wheels/{WHEEL}
        demo_pkg @ ./wheels/{WHEEL}
        demo-pkg @ {(root / "wheels" / WHEEL).as_uri()}
        """,
    )
    assert {r.local_path for r in parsed.requirements} == {str(root / "wheels" / WHEEL)}
    assert all(r.text.startswith("demo") and " @ file:///" in r.text for r in parsed.requirements)


def test_named_wheel_must_match_the_file(root: Path) -> None:
    (root / WHEEL).write_bytes(b"w")
    error = spec_error(root, f"other @ file:{WHEEL}\n")
    assert "other" in error.what


def test_missing_local_wheel_is_a_clear_error(root: Path) -> None:
    error = spec_error(root, f"wheels/{WHEEL}\n")
    assert "requirements.txt:1" in error.what
    assert "not found" in error.what
    assert error.value == str(root / "wheels" / WHEEL)


def test_local_directory_needs_a_build_file_and_is_reported_as_unhashed(root: Path) -> None:
    (root / "src" / "pkg").mkdir(parents=True)
    with pytest.raises(SpecError, match="not installable"):
        parse(root, "./src/pkg\n")
    (root / "src" / "pkg" / "pyproject.toml").write_text("[project]\nname='pkg'\n")
    parsed = parse(root, "./src/pkg\n")
    assert parsed.requirements[0].text == str(root / "src" / "pkg")
    assert parsed.requirements[0].local_path == str(root / "src" / "pkg")
    assert parsed.requirements[0].name is None
    assert any("not content-hashed" in w for w in parsed.warnings)


def test_local_file_that_is_not_an_archive_is_refused(root: Path) -> None:
    (root / "notes").mkdir()
    (root / "notes" / "readme.txt").write_text("hi")
    with pytest.raises(SpecError, match="not a wheel or source archive"):
        parse(root, "pkg @ ./notes/readme.txt\n")


@pytest.mark.parametrize(
    "line", ["../outside/" + WHEEL, "{outside}/" + WHEEL, "pkg @ file://{outside}/" + WHEEL]
)
def test_local_files_outside_the_root_are_refused(root: Path, line: str) -> None:
    outside = root.parent / "outside"
    outside.mkdir()
    (outside / WHEEL).write_bytes(b"w")
    error = spec_error(root, line.format(outside=outside) + "\n")
    assert "leaves the model directory" in error.what


def test_symlink_leading_out_of_the_root_is_refused(root: Path) -> None:
    outside = root.parent / "outside"
    outside.mkdir()
    (outside / WHEEL).write_bytes(b"w")
    (root / "wheels").symlink_to(outside)
    error = spec_error(root, f"wheels/{WHEEL}\n")
    assert "leaves the model directory" in error.what


def test_file_url_on_another_host_is_refused(root: Path) -> None:
    with pytest.raises(SpecError, match="another host"):
        parse(root, f"pkg @ file://server/share/{WHEEL}\n")


# --- includes ---------------------------------------------------------------------------------


def test_requirement_include_is_relative_to_the_including_file(root: Path) -> None:
    write(root / "envs" / "base.txt", "-r common/shared.txt\nnumpy==1.0\n")
    write(root / "envs" / "common" / "shared.txt", "pandas==2.0\n")
    parsed = parse(root, "--requirement envs/base.txt\nscipy==1.0\n")
    assert texts(parsed.requirements) == ["pandas==2.0", "numpy==1.0", "scipy==1.0"]
    assert [r.origin for r in parsed.requirements] == [
        "envs/common/shared.txt:1",
        "envs/base.txt:2",
        "requirements.txt:2",
    ]


@pytest.mark.parametrize(
    "spelling", ["-r other.txt", "-rother.txt", "--requirement=other.txt", "--requirem other.txt"]
)
def test_include_option_spellings(root: Path, spelling: str) -> None:
    write(root / "other.txt", "numpy==1.0\n")
    assert texts(parse(root, spelling + "\n").requirements) == ["numpy==1.0"]


def test_constraint_files_produce_constraints(root: Path) -> None:
    write(root / "constraints.txt", "urllib3<2\n-c more.txt\n")
    write(root / "more.txt", "idna==3.4\n")
    parsed = parse(root, "-c constraints.txt\nrequests==2.31.0\n")
    assert texts(parsed.requirements) == ["requests==2.31.0"]
    assert texts(parsed.constraints) == ["urllib3<2", "idna==3.4"]
    assert [r.origin for r in parsed.constraints] == ["constraints.txt:1", "more.txt:1"]


def test_requirement_include_inside_a_constraint_file_yields_requirements_as_in_pip(
    root: Path,
) -> None:
    write(root / "constraints.txt", "urllib3<2\n-r wanted.txt\n")
    write(root / "wanted.txt", "idna==3.4\n")
    parsed = parse(root, "--constraint constraints.txt\n")
    assert texts(parsed.constraints) == ["urllib3<2"]
    assert texts(parsed.requirements) == ["idna==3.4"]


def test_include_cycle_is_reported_with_its_chain(root: Path) -> None:
    write(root / "a.txt", "-r sub/b.txt\n")
    write(root / "sub" / "b.txt", "-c ../a.txt\n")
    error = spec_error(root, "-r a.txt\n")
    assert "cycle" in error.what
    assert "sub/b.txt:1" in error.what
    assert error.value == "requirements.txt -> a.txt -> sub/b.txt -> a.txt"


def test_self_include_is_a_cycle(root: Path) -> None:
    error = spec_error(root, "numpy==1.0\n-r requirements.txt\n")
    assert "cycle" in error.what
    assert error.value == "requirements.txt -> requirements.txt"


def test_the_same_file_included_twice_is_not_a_cycle(root: Path) -> None:
    write(root / "a.txt", "-r common.txt\n")
    write(root / "b.txt", "-r common.txt\n")
    write(root / "common.txt", "numpy==1.0\n")
    parsed = parse(root, "-r a.txt\n-r b.txt\n")
    # Not a cycle; the second copy of the same line is dropped with a note.
    assert texts(parsed.requirements) == ["numpy==1.0"]
    assert any("listed twice" in w for w in parsed.warnings)
    assert [p for p, _ in parsed.files] == ["requirements.txt", "a.txt", "common.txt", "b.txt"]


def test_missing_include_names_the_including_line(root: Path) -> None:
    error = spec_error(root, "numpy==1.0\n-r missing.txt\n")
    assert "requirements.txt:2" in error.what
    assert "not found" in error.what
    assert error.value is not None and error.value.endswith("missing.txt")


def test_missing_top_level_file_is_a_spec_error(root: Path) -> None:
    with pytest.raises(SpecError, match="not found"):
        parse_requirements_file(Path("requirements.txt"), root=root)


@pytest.mark.parametrize("target", ["../outside.txt", "{outside}"])
def test_includes_outside_the_root_are_refused(root: Path, target: str) -> None:
    outside = write(root.parent / "outside.txt", "numpy==1.0\n")
    error = spec_error(root, "-r " + target.format(outside=outside) + "\n")
    assert "leaves the model directory" in error.what
    assert "requirements.txt:1" in error.what


def test_include_through_a_symlink_out_of_the_root_is_refused(root: Path) -> None:
    outside = write(root.parent / "outside.txt", "numpy==1.0\n")
    (root / "linked.txt").symlink_to(outside)
    assert "leaves the model directory" in spec_error(root, "-r linked.txt\n").what


def test_remote_include_is_refused(root: Path) -> None:
    with pytest.raises(SpecError, match="given as URLs"):
        parse(root, "-r https://example.org/requirements.txt\n")


# --- files and their hashes -------------------------------------------------------------------


def test_files_list_every_file_read_with_a_content_hash(root: Path) -> None:
    main = write(root / "requirements.txt", "-r base.txt\n-c pins.txt\n")
    base = write(root / "base.txt", "numpy==1.0\n")
    pins = write(root / "pins.txt", "numpy<2\n")
    parsed = parse_requirements_file(Path("requirements.txt"), root=root)
    assert parsed.files == tuple(
        (p.name, hashlib.sha256(p.read_bytes()).hexdigest()) for p in (main, base, pins)
    )


def test_file_hashes_are_deterministic_and_follow_content(root: Path) -> None:
    write(root / "requirements.txt", "-r base.txt\n")
    write(root / "base.txt", "numpy==1.0\n")
    first = dict(parse_requirements_file(Path("requirements.txt"), root=root).files)
    assert dict(parse_requirements_file(Path("requirements.txt"), root=root).files) == first
    write(root / "base.txt", "numpy==1.0  # same requirement, different bytes\n")
    second = dict(parse_requirements_file(Path("requirements.txt"), root=root).files)
    assert second["requirements.txt"] == first["requirements.txt"]
    assert second["base.txt"] != first["base.txt"]


def test_absolute_path_to_the_file_gives_root_relative_names(root: Path) -> None:
    write(root / "requirements.txt", "numpy==1.0\n")
    parsed = parse_requirements_file(root / "requirements.txt", root=root)
    assert parsed.requirements[0].origin == "requirements.txt:1"
    assert [p for p, _ in parsed.files] == ["requirements.txt"]


# --- index options ----------------------------------------------------------------------------


def test_index_options(root: Path) -> None:
    (root / "wheels").mkdir()
    parsed = parse(
        root,
        """
        -i https://first.example/simple
        --index-url=https://mirror.example/simple
        --extra-index-url https://extra.example/simple
        --extra-index-url https://extra.example/simple
        --extra-index-url=https://more.example/simple
        -f wheels
        --find-links https://example.org/links.html
        --find-links /opt/wheels
        --trusted-host extra.example
        --no-index
        --pre
        numpy==1.0
        """,
    )
    assert parsed.index == IndexOptions(
        index_url="https://mirror.example/simple",
        extra_index_urls=("https://extra.example/simple", "https://more.example/simple"),
        find_links=(str(root / "wheels"), "https://example.org/links.html", "/opt/wheels"),
        trusted_hosts=("extra.example",),
        no_index=True,
        pre=True,
    )
    assert texts(parsed.requirements) == ["numpy==1.0"]


def test_index_options_from_included_and_constraint_files_count(root: Path) -> None:
    write(root / "base.txt", "--extra-index-url https://base.example/simple\n")
    write(root / "pins.txt", "--trusted-host pins.example\n")
    parsed = parse(root, "-r base.txt\n-c pins.txt\n")
    assert parsed.index.extra_index_urls == ("https://base.example/simple",)
    assert parsed.index.trusted_hosts == ("pins.example",)


def test_several_options_on_one_line(root: Path) -> None:
    parsed = parse(root, "--pre --extra-index-url https://x.example/simple --no-index\n")
    assert parsed.index == IndexOptions(
        extra_index_urls=("https://x.example/simple",), no_index=True, pre=True
    )


def test_relative_find_links_prefers_the_including_files_directory_then_the_root(
    root: Path,
) -> None:
    (root / "wheels").mkdir()
    (root / "sub" / "local").mkdir(parents=True)
    write(root / "sub" / "reqs.txt", "-f local\n-f wheels\n")
    parsed = parse(root, "-r sub/reqs.txt\n")
    assert parsed.index.find_links == (str(root / "sub" / "local"), str(root / "wheels"))


def test_missing_relative_find_links_is_an_error(root: Path) -> None:
    error = spec_error(root, "--find-links wheels\n")
    assert "find-links" in error.what
    assert error.value == "wheels"


def test_relative_find_links_leaving_the_root_is_refused(root: Path) -> None:
    (root.parent / "shared-wheels").mkdir()
    assert "leaves the model directory" in spec_error(root, "-f ../shared-wheels\n").what


def test_option_after_a_requirement_is_ignored_with_a_warning(root: Path) -> None:
    parsed = parse(root, "torch==2.1 --extra-index-url https://download.example/cpu\n")
    assert texts(parsed.requirements) == ["torch==2.1"]
    assert parsed.index == IndexOptions()
    assert len(parsed.warnings) == 1
    assert "requirements.txt:1" in parsed.warnings[0]
    assert "--extra-index-url" in parsed.warnings[0]


# --- refused constructs -----------------------------------------------------------------------


@pytest.mark.parametrize("line", ["-e ./src/pkg", "--editable=git+https://x.example/p.git#egg=p"])
def test_editable_installs_are_refused(root: Path, line: str) -> None:
    error = spec_error(root, line + "\n")
    assert "editable" in error.what
    assert error.fix is not None and "wheel" in error.fix


@pytest.mark.parametrize("option", ["--frobnicate", "-x"])
def test_unknown_option_is_named(root: Path, option: str) -> None:
    error = spec_error(root, f"{option} value\n")
    assert f"unknown option {option}" in error.what
    assert "requirements.txt:1" in error.what


def test_long_options_may_be_abbreviated_unambiguously_as_in_pip(root: Path) -> None:
    parsed = parse(root, "--extra-index https://x.example/simple\n--no-i\n")
    assert parsed.index == IndexOptions(
        extra_index_urls=("https://x.example/simple",), no_index=True
    )
    error = spec_error(root, "--req other.txt\n")
    assert "ambiguous option --req" in error.what
    assert "--requirement" in error.what


@pytest.mark.parametrize(
    "option", ["--only-binary :all:", "--prefer-binary", "--use-feature truststore"]
)
def test_pip_options_envrun_does_not_carry_are_refused_by_name(root: Path, option: str) -> None:
    error = spec_error(root, option + "\n")
    assert option.split(maxsplit=1)[0] in error.what
    assert "not supported" in error.what


def test_option_value_errors(root: Path) -> None:
    assert "needs a value" in spec_error(root, "--index-url\n").what
    assert "takes no value" in spec_error(root, "--pre=yes\n").what
    assert "cannot split" in spec_error(root, "--index-url 'https://unclosed\n").what


def test_stray_argument_after_options_is_refused(root: Path) -> None:
    assert "unexpected argument" in spec_error(root, "--pre numpy\n").what


def test_environment_variable_references_are_refused(root: Path) -> None:
    error = spec_error(root, "--index-url https://${TOKEN}@example.org/simple\n")
    assert "environment variable" in error.what
    assert "requirements.txt:1" in error.what


def test_errors_have_three_parts(root: Path) -> None:
    error = spec_error(root, "-e .\n")
    assert error.what and error.value and error.fix
    assert str(error) == error.render()


# --- hashes -----------------------------------------------------------------------------------


def test_hashes_in_both_spellings_are_collected(root: Path) -> None:
    parsed = parse(
        root,
        f"""
        numpy==1.26.4 --hash=sha256:{SHA_A} \\
            --hash sha256:{SHA_B.upper()}
        pandas==2.2.0 --hash=sha512:{"c" * 128}
        """,
    )
    assert [r.hashes for r in parsed.requirements] == [
        (f"sha256:{SHA_A}", f"sha256:{SHA_B}"),
        (f"sha512:{'c' * 128}",),
    ]
    assert parsed.require_hashes is True


@pytest.mark.parametrize("value", ["md5:" + "a" * 32, "sha256:abc", "sha256:" + "g" * 64, SHA_A])
def test_malformed_hash_is_refused(root: Path, value: str) -> None:
    error = spec_error(root, f"numpy==1.0 --hash={value}\n")
    assert "malformed --hash" in error.what
    assert error.value == value


def test_hash_mode_requires_a_hash_on_every_requirement(root: Path) -> None:
    write(root / "more.txt", "scipy==1.11.0\n")
    error = spec_error(root, f"numpy==1.26.4 --hash=sha256:{SHA_A}\npandas==2.2.0\n-r more.txt\n")
    assert "requirements.txt:1 has --hash" in error.what
    assert error.value == "lines without --hash: requirements.txt:2, more.txt:1"


def test_constraints_need_no_hash_in_hash_mode(root: Path) -> None:
    write(root / "pins.txt", "urllib3<2\n")
    parsed = parse(root, f"-c pins.txt\nnumpy==1.26.4 --hash=sha256:{SHA_A}\n")
    assert parsed.constraints[0].hashes == ()
    assert parsed.require_hashes is True


def test_hashed_constraint_alone_does_not_turn_hash_mode_on(root: Path) -> None:
    write(root / "pins.txt", f"urllib3==1.26.0 --hash=sha256:{SHA_A}\n")
    parsed = parse(root, "-c pins.txt\nrequests\n")
    assert parsed.require_hashes is False


def test_require_hashes_option_turns_hash_mode_on(root: Path) -> None:
    error = spec_error(root, "--require-hashes\nnumpy==1.26.4\n")
    assert "--require-hashes" in error.what
    assert "requirements.txt:2" in (error.value or "")


def test_hash_mode_requires_pinned_versions(root: Path) -> None:
    error = spec_error(root, f"numpy>=1.26 --hash=sha256:{SHA_A}\n")
    assert "pinned" in error.what
    assert error.value == "unpinned lines: requirements.txt:1"


def test_hashed_local_wheel_needs_no_version_pin(root: Path) -> None:
    (root / WHEEL).write_bytes(b"w")
    parsed = parse(root, f"./{WHEEL} --hash=sha256:{SHA_A}\n")
    assert parsed.requirements[0].hashes == (f"sha256:{SHA_A}",)


def test_hash_on_a_line_without_requirement_is_ignored_with_a_warning(root: Path) -> None:
    parsed = parse(root, f"--hash=sha256:{SHA_A}\nnumpy\n")
    assert parsed.require_hashes is False
    assert any("--hash without a requirement" in w for w in parsed.warnings)


# --- lists of lines (python_env.yaml) ---------------------------------------------------------


def test_requirement_lines_with_include_relative_to_base_dir(root: Path) -> None:
    write(root / "requirements.txt", "numpy==1.0\n")
    parsed = parse_requirement_lines(
        ["-r requirements.txt", "pandas==2.0  # pinned", "# only a comment", "mlflow==2.9.2"],
        origin="python_env.yaml dependencies",
        base_dir=root,
        root=root,
    )
    assert texts(parsed.requirements) == ["numpy==1.0", "pandas==2.0", "mlflow==2.9.2"]
    assert [r.origin for r in parsed.requirements] == [
        "requirements.txt:1",
        "python_env.yaml dependencies[1]",
        "python_env.yaml dependencies[3]",
    ]
    assert [p for p, _ in parsed.files] == ["requirements.txt"]


def test_requirement_lines_accept_a_base_dir_relative_to_root(root: Path) -> None:
    write(root / "env" / "reqs.txt", "numpy==1.0\n")
    parsed = parse_requirement_lines(["-r reqs.txt"], origin="x", base_dir=Path("env"), root=root)
    assert parsed.requirements[0].origin == "env/reqs.txt:1"


def test_requirement_lines_refuse_a_base_dir_outside_the_root(root: Path) -> None:
    with pytest.raises(SpecError, match="leaves the model directory"):
        parse_requirement_lines(["numpy"], origin="x", base_dir=root.parent, root=root)


def test_requirement_lines_report_errors_with_the_entry(root: Path) -> None:
    with pytest.raises(SpecError, match=r"conda\.yaml pip\[1\]: editable"):
        parse_requirement_lines(
            ["numpy", "-e ."], origin="conda.yaml pip", base_dir=root, root=root
        )


# --- rendering and data -----------------------------------------------------------------------


def test_render_requirements_txt_round_trips(root: Path) -> None:
    (root / WHEEL).write_bytes(b"w")
    parsed = parse(
        root,
        f"""
        numpy==1.26.4 ; python_version < "3.13" --hash=sha256:{SHA_A} --hash=sha256:{SHA_B}
        {WHEEL} --hash=sha256:{SHA_A}
        """,
    )
    rendered = render_requirements_txt(parsed.requirements)
    assert rendered == (
        f'numpy==1.26.4; python_version < "3.13" --hash=sha256:{SHA_A} --hash=sha256:{SHA_B}\n'
        f"demo-pkg @ {(root / WHEEL).as_uri()} --hash=sha256:{SHA_A}\n"
    )
    assert render_requirements_txt(parsed.requirements) == rendered
    again = parse(root, rendered, name="rendered.txt")
    assert [(r.text, r.hashes) for r in again.requirements] == [
        (r.text, r.hashes) for r in parsed.requirements
    ]


def test_render_of_nothing_is_empty() -> None:
    assert render_requirements_txt([]) == ""


def test_merged_index_options() -> None:
    base = IndexOptions(
        index_url="https://a.example/simple",
        extra_index_urls=("https://x.example", "https://y.example"),
        find_links=("/opt/wheels",),
        trusted_hosts=("x.example",),
        no_index=True,
    )
    top = IndexOptions(
        extra_index_urls=("https://y.example", "https://z.example"),
        find_links=("/opt/wheels", "/srv/wheels"),
        pre=True,
    )
    merged = base.merged(top)
    assert merged == IndexOptions(
        index_url="https://a.example/simple",
        extra_index_urls=("https://x.example", "https://y.example", "https://z.example"),
        find_links=("/opt/wheels", "/srv/wheels"),
        trusted_hosts=("x.example",),
        no_index=True,
        pre=True,
    )
    assert base.merged(IndexOptions(index_url="https://b.example")).index_url == "https://b.example"
    assert IndexOptions().merged(IndexOptions()) == IndexOptions()


def test_to_json_is_plain_data(root: Path) -> None:
    parsed = parse(root, f"--extra-index-url https://x.example\nnumpy==1.0 --hash=sha256:{SHA_A}\n")
    assert parsed.index.to_json() == {
        "index_url": None,
        "extra_index_urls": ["https://x.example"],
        "find_links": [],
        "trusted_hosts": [],
        "no_index": False,
        "pre": False,
    }
    assert parsed.requirements[0].to_json() == {
        "text": "numpy==1.0",
        "name": "numpy",
        "hashes": [f"sha256:{SHA_A}"],
        "origin": "requirements.txt:2",
        "local_path": None,
    }
