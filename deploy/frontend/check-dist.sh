#!/bin/sh
# deploy/frontend/check-dist.sh DIR: is DIR a built DearMe frontend that nginx can serve at /?
#
# Run by deploy/frontend/Dockerfile on the files it bakes into the nginx image (both targets: a
# build from source and a prebuilt FRONTEND_DIST), and by scripts/check-deploy on fixtures.
# POSIX sh (busybox in the image). Exits 1 naming the first problem:
#   - no index.html: every page would be a 404
#   - an unbuilt source tree (index.html still loads /src/main.*): FRONTEND_DIST must name the
#     build output (`dist/`), not the checkout
#   - no assets/: Vite writes the content-hashed bundles there (nginx caches them for a year)
#   - the bundles contain http://localhost:8000, the API fallback of the frontend's
#     src/lib/api.ts: it was built without VITE_API_URL defined, so every browser would call
#     its own machine. It must be defined and empty (the calls then go to /api/v1 on nginx).
#   - files or directories nginx's workers (an unprivileged user) cannot read
set -eu

dir=${1:?usage: check-dist.sh DIR}
fail() {
    echo "check-dist: $dir: $*" >&2
    exit 1
}

[ -d "$dir" ] || fail "not a directory"
[ -f "$dir/index.html" ] || fail "no index.html (expected the output of \`npm run build\`, i.e. dist/)"
if grep -q 'src="/src/main\.' "$dir/index.html"; then
    fail "index.html loads /src/main.*: this is the source tree, not a build (use its dist/)"
fi
[ -d "$dir/assets" ] || fail "no assets/ (Vite writes the content-hashed bundles there)"
if grep -rqF 'http://localhost:8000' "$dir/assets"; then
    fail "the bundles call http://localhost:8000: built without VITE_API_URL defined (build with VITE_API_URL= npm run build)"
fi
unreadable=$(find "$dir" \( -type f ! -perm -0004 \) -o \( -type d ! -perm -0005 \) | head -n 3)
[ -z "$unreadable" ] || fail "not readable by nginx's workers (chmod -R a+rX): $unreadable"

echo "check-dist: $dir: ok (index.html; asset files: $(find "$dir/assets" -type f | wc -l | tr -d ' '); API on the same origin)"
