#!/usr/bin/env bash
# Starts a throw-away sshd on 127.0.0.1 serving a bare repository with a `main` branch, for
# the provider's ssh tests, and prints the environment they read:
#
#   eval "$(providers/git/tests/sshd.sh /tmp/provisio-sshd)"
#   cargo test -p provisio-git --test conformance ssh::
#   kill "$PROVISIO_TEST_GIT_SSHD_PID"
#
# Needs `sshd` (Debian: apt-get install openssh-server). Everything lives in the given
# directory; the server only listens on loopback and accepts only the generated key.
set -euo pipefail
dir="${1:?usage: sshd.sh <work dir> [port]}"
port="${2:-22022}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
sshd_bin="$(command -v sshd || echo /usr/sbin/sshd)"

rm -f "$dir/host_key" "$dir/client_key"
ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$dir/client_key"
cp "$dir/client_key.pub" "$dir/authorized_keys"
chmod 600 "$dir/authorized_keys"
echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$dir/host_key.pub")" > "$dir/known_hosts"

repo="$dir/tenants.git"
if [ ! -d "$repo" ]; then
  git init --quiet --bare "$repo"
  seed="$(mktemp -d)"
  git -C "$seed" init --quiet -b main
  echo "tenant configuration" > "$seed/README.md"
  git -C "$seed" add README.md
  git -C "$seed" -c user.name=Seeder -c user.email=seed@example.test commit --quiet -m initial
  git -C "$seed" push --quiet "$repo" main
  rm -rf "$seed"
fi

cat > "$dir/sshd_config" <<CONF
ListenAddress 127.0.0.1
Port $port
HostKey $dir/host_key
AuthorizedKeysFile $dir/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
PidFile $dir/sshd.pid
CONF
mkdir -p /run/sshd
"$sshd_bin" -f "$dir/sshd_config" -E "$dir/sshd.log"
for _ in $(seq 50); do [ -s "$dir/sshd.pid" ] && break; sleep 0.1; done

echo "export PROVISIO_TEST_GIT_SSH='ssh://$(id -un)@127.0.0.1:$port$repo'"
echo "export PROVISIO_TEST_GIT_SSH_KEY='$dir/client_key'"
echo "export PROVISIO_TEST_GIT_SSH_KNOWN_HOSTS='$dir/known_hosts'"
echo "export PROVISIO_TEST_GIT_SSHD_PID='$(cat "$dir/sshd.pid")'"
