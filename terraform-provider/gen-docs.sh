#!/usr/bin/env bash
# Generates the provider's documentation into terraform-provider/docs with
# tfplugindocs, offline.
#
# tfplugindocs would normally run `terraform init` against the public
# registry to learn the provider's schema. Instead this script builds the
# provider, points the real terraform binary at it with a dev_overrides CLI
# configuration (no registry, no init), asks it for the schema with
# `terraform providers schema -json`, and hands that file to
# `tfplugindocs generate --providers-schema`. Descriptions come from the
# schema's MarkdownDescription; examples from examples/ in the tfplugindocs
# layout (provider/, resources/<name>/, ephemeral-resources/<name>/,
# functions/<name>/).
#
# Usage (from anywhere):
#   terraform-provider/gen-docs.sh           # write terraform-provider/docs
#   terraform-provider/gen-docs.sh --check   # fail when the docs are stale
#
# Needs: go, terraform (1.11 or later) on PATH or in $TERRAFORM, and
# tfplugindocs in $TFPLUGINDOCS or bin/tfplugindocs, which is built from the
# Go module proxy when missing:
#   GOBIN=$PWD/bin go install github.com/hashicorp/terraform-plugin-docs/cmd/tfplugindocs@v0.25.0
set -euo pipefail

TFPLUGINDOCS_VERSION="${TFPLUGINDOCS_VERSION:-v0.25.0}"
PROVIDER_ADDRESS="registry.terraform.io/keyport-dev/keyport"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
provider_dir="$root/terraform-provider"
terraform="${TERRAFORM:-$(command -v terraform || true)}"
tfplugindocs="${TFPLUGINDOCS:-$root/bin/tfplugindocs}"

check=false
case "${1:-}" in
  --check) check=true ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

if [[ -z "$terraform" ]]; then
  echo "gen-docs: terraform not found; set TERRAFORM or put it on PATH" >&2
  exit 1
fi
if [[ ! -x "$tfplugindocs" ]]; then
  echo "==> building tfplugindocs $TFPLUGINDOCS_VERSION from the Go module proxy into $root/bin"
  GOBIN="$root/bin" go install "github.com/hashicorp/terraform-plugin-docs/cmd/tfplugindocs@$TFPLUGINDOCS_VERSION"
  tfplugindocs="$root/bin/tfplugindocs"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "==> building terraform-provider-keyport"
mkdir -p "$work/plugins" "$work/config"
(cd "$root" && go build -o "$work/plugins/terraform-provider-keyport" ./terraform-provider)

# dev_overrides makes terraform use the binary just built without init or
# any registry; nothing else may be installed from anywhere.
cat >"$work/terraformrc" <<EOF
provider_installation {
  dev_overrides {
    "$PROVIDER_ADDRESS" = "$work/plugins"
  }
  direct {
    exclude = ["registry.terraform.io/*/*"]
  }
}
EOF
cat >"$work/config/main.tf" <<'EOF'
terraform {
  required_providers {
    keyport = {
      source = "keyport-dev/keyport"
    }
  }
}
EOF

echo "==> terraform providers schema -json"
(cd "$work/config" && TF_CLI_CONFIG_FILE="$work/terraformrc" TF_IN_AUTOMATION=1 \
  "$terraform" providers schema -json >"$work/schema.json")

# tfplugindocs renders into a scratch copy of the provider folder, where
# examples/ is the repository's (it looks for examples relative to the
# provider folder); the result replaces terraform-provider/docs, or with
# --check is compared with it.
target="$work/provider"
mkdir -p "$target"
ln -s "$root/examples" "$target/examples"
[[ -d "$provider_dir/templates" ]] && cp -R "$provider_dir/templates" "$target/templates"

# tfplugindocs looks a provider's schema up by its short name (or under
# registry.terraform.io/hashicorp/): file it under "keyport".
sed -e "s|\"$PROVIDER_ADDRESS\"|\"keyport\"|" "$work/schema.json" >"$work/schema.keyport.json"

echo "==> tfplugindocs generate"
"$tfplugindocs" generate \
  --provider-dir "$target" \
  --provider-name keyport \
  --rendered-provider-name Keyport \
  --providers-schema "$work/schema.keyport.json" \
  --examples-dir examples \
  --rendered-website-dir docs

if $check; then
  if ! diff -ru "$provider_dir/docs" "$target/docs"; then
    echo "gen-docs: terraform-provider/docs is stale; run terraform-provider/gen-docs.sh (make docs) and commit the result" >&2
    exit 1
  fi
  echo "==> terraform-provider/docs is up to date"
else
  rm -rf "$provider_dir/docs"
  cp -R "$target/docs" "$provider_dir/docs"
  echo "==> wrote $provider_dir/docs"
fi
