#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# test-check-unity.sh CHECKER: check-unity.sh passes a directory whose files
# share nothing at namespace scope (members and local declarations alike
# named), and names each kind it must refuse: a free function of one name in
# two files, `using namespace`, a using-declaration, a namespace alias and a
# #define, each in a directory of its own; and fails on a directory of none.
set -eu
checker=$1
work=$(mktemp -d "${TMPDIR:-/tmp}/pkgunify-unity-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

mkdir -p "$work/good/sub"
cat > "$work/good/a.cpp" <<'CPP'
namespace x {
namespace {
int
helper_a(int v)
{
  using namespace std;
  return v;
}
}  // namespace
int
Type::run(int v)
{
  return helper_a(v);
}
}  // namespace x
CPP
cat > "$work/good/sub/b.cpp" <<'CPP'
namespace x {
int
helper_b(int v)
{
  return v;
}
int
Other::run(int v)
{
  return v;
}
}  // namespace x
CPP
out=$(sh "$checker" "$work" good) || fail "a clean directory failed: $out"

# bad KIND FILE-CONTENT EXPECTED-TEXT: a directory holding good/'s files and
# one more file; the checker fails naming that file and the problem.
bad() {
  rm -rf "$work/$1"
  cp -R "$work/good" "$work/$1"
  printf '%b' "$2" > "$work/$1/z.cpp"
  status=0
  out=$(sh "$checker" "$work" "$1") || status=$?
  [ "$status" != 0 ] || fail "$1: passed: $out"
  case $out in
  *"$1/z.cpp:"*"$3"*) ;;
  *) fail "$1: expected z.cpp and '$3' named: $out" ;;
  esac
}
bad overload 'namespace x {\nnamespace {\nlong\nhelper_b(long v)\n{\n  return v;\n}\n}\n}\n' \
  "function helper_b is also defined in"
bad using-directive 'using namespace std;\n' 'namespace-scope "using namespace std;"'
bad using-declaration 'using std::string;\n' 'namespace-scope "using std::string;"'
bad alias 'namespace fs = std::filesystem;\n' 'namespace-scope "namespace fs = std::filesystem;"'
bad define '#define HELPER 1\n' '#define reaches'

mkdir -p "$work/empty"
status=0
sh "$checker" "$work" empty > /dev/null 2>&1 || status=$?
[ "$status" != 0 ] || fail "a directory without sources passed"
echo "check-unity.sh: all cases as expected"
