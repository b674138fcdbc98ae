#!/usr/bin/env bash
# Installs the qa bundle on a Linux server with no network (the bundle is built by `make bundle`).
#
#   ./install.sh [--prefix /opt/qa] [--data-dir /var/lib/qa] [--python python3.11]
#
# Checks every file against SHA256SUMS before touching anything, creates a virtualenv under the
# prefix and installs the bundled wheels into it (pip --no-index: nothing is fetched), puts the model
# and the default corpus under the prefix, writes their paths to <prefix>/etc/qa.env, writes
# <prefix>/bin/qa (the `qa` command with those settings) and <prefix>/etc/qa.service, and builds the
# index in the data directory from the corpus. Running it again, or with a newer bundle, updates in
# place: unchanged documents are not re-embedded and uploaded documents are kept.
# Linux only: the index's writer lock uses fcntl.
set -euo pipefail
umask 022

prefix=/opt/qa
data_dir=/var/lib/qa
python=""

usage() {
  cat <<'EOF'
用法：./install.sh [--prefix 目录] [--data-dir 目录] [--python 解释器]
  --prefix    程序、模型和默认语料装在这里（默认 /opt/qa）
  --data-dir  索引和上传的文档放在这里，服务要能写（默认 /var/lib/qa）
  --python    用来创建虚拟环境的 Python，版本须与安装包一致（默认找 python3.11、python3）
EOF
}
die() { echo "install.sh：$*" >&2; exit 1; }
step() { echo "==> $*"; }

while [ $# -gt 0 ]; do
  case $1 in
    --prefix) prefix=${2:?--prefix 需要一个目录}; shift 2 ;;
    --prefix=*) prefix=${1#*=}; shift ;;
    --data-dir) data_dir=${2:?--data-dir 需要一个目录}; shift 2 ;;
    --data-dir=*) data_dir=${1#*=}; shift ;;
    --python) python=${2:?--python 需要一个解释器}; shift 2 ;;
    --python=*) python=${1#*=}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "不认识的参数：$1" ;;
  esac
done

[ "$(uname -s)" = Linux ] || die "只能装在 Linux 上（索引的写锁用 fcntl），当前系统是 $(uname -s)"
prefix=$(realpath -m -- "$prefix")
data_dir=$(realpath -m -- "$data_dir")
# The paths go into systemd's unit, an environment file and script shebangs: keep them plain.
for p in "$prefix" "$data_dir"; do
  [[ $p =~ ^/[A-Za-z0-9._/+-]*$ ]] || die "路径只能由字母、数字和 ._-+/ 组成：$p"
done

bundle=$(cd -- "$(dirname -- "$0")" && pwd)
cd -- "$bundle"

step "校验安装包文件（SHA256SUMS）"
# Before anything is installed: a truncated or altered copy stops here, not halfway through.
sha256sum --check --strict --quiet SHA256SUMS || die "文件校验失败（见上面标 FAILED 的文件）：请重新复制安装包"
# shellcheck source=/dev/null
. ./bundle.env   # QA_VERSION, PYTHON_VERSION, PLATFORM, MODEL_NAME

step "查找 Python $PYTHON_VERSION"
py=""
for candidate in ${python:-python$PYTHON_VERSION python3}; do
  command -v "$candidate" >/dev/null || continue
  if [ "$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" = "$PYTHON_VERSION" ]; then
    py=$candidate; break
  fi
done
[ -n "$py" ] || die "需要 Python $PYTHON_VERSION（安装包中的轮子为它和 $PLATFORM 构建）；用 --python 指定解释器"

venv=$prefix/venv
step "虚拟环境 $venv"
if ! [ -x "$venv/bin/python" ] ||
   [ "$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "$PYTHON_VERSION" ]; then
  rm -rf -- "$venv"
  "$py" -m venv "$venv" || die "无法创建虚拟环境（Debian/Ubuntu 需要 python$PYTHON_VERSION-venv 包）"
fi

step "从安装包安装 qa $QA_VERSION 及其依赖（不联网）"
# pip reads nothing of this machine's configuration (indexes, find-links, constraints) and never
# looks at an index: every wheel comes from the bundle.
for v in $(compgen -e); do [[ $v == PIP_* ]] && unset "$v"; done
export PIP_CONFIG_FILE=/dev/null PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
pip_install() { "$venv/bin/python" -m pip install --quiet --no-compile --no-index --find-links "$bundle/wheels" "$@"; }
# Exactly the bundle's versions (an upgrade may also move a dependency down). The project's own wheel
# is always reinstalled: a rebuilt bundle may carry new code under the same version number.
pip_install -r wheels/requirements.txt
pip_install --no-deps --force-reinstall "wheels/qa-$QA_VERSION-py3-none-any.whl"
"$venv/bin/python" -m pip check >/dev/null || die "依赖不一致：$("$venv/bin/python" -m pip check)"
# Byte-compiled here, on every core, because the service cannot write under the prefix
# (ProtectSystem=strict); files already compiled are skipped. A module that does not compile (test
# fixtures inside some packages) is left uncompiled, as pip leaves it.
"$venv/bin/python" -m compileall -q -j 0 "$venv/lib" >/dev/null 2>&1 || true

# Replaces $2 by a copy of $1 unless they are already identical; prints "changed" when it copied.
sync_tree() {  # sync_tree FROM TO [diff options]: replace TO by FROM unless they already match
  if diff -rq "${@:3}" -- "$1" "$2" >/dev/null 2>&1; then return 0; fi
  mkdir -p -- "$(dirname -- "$2")"
  rm -rf -- "$2.new"
  cp -R -- "$1" "$2.new"
  rm -rf -- "$2"
  mv -- "$2.new" "$2"
  echo changed
}

step "模型 $prefix/model/$MODEL_NAME 与默认语料 $prefix/corpus"
# An earlier installation's model, if any: another one now means the index must be re-embedded.
previous_model=$(sed -n 's/^QA_EMBED_MODEL=//p' "$prefix/etc/qa.env" 2>/dev/null || true)
# The ONNX variants exported on the server (python -m qa.model_export) are not in the bundle: kept while
# the rest matches. The OpenVINO variant (the default backend) is, and is compared like the weights.
model_changed=$(sync_tree "model/$MODEL_NAME" "$prefix/model/$MODEL_NAME" -x onnx -x qa_export.json)
if [ -n "$previous_model" ] && [ "$previous_model" != "$prefix/model/$MODEL_NAME" ]; then model_changed=changed; fi
[ -n "$previous_model" ] || model_changed=""
sync_tree corpus "$prefix/corpus" >/dev/null
mkdir -p -- "$prefix/share/deploy"
cp -- deploy/qa.env.example deploy/nginx.conf LICENSE "$prefix/share/deploy/"

step "设置 $prefix/etc/qa.env、命令 $prefix/bin/qa、服务文件 $prefix/etc/qa.service"
mkdir -p -- "$prefix/etc" "$prefix/bin" "$data_dir"
cat > "$prefix/etc/qa.env.new" <<EOF
# 由 install.sh 写入，每次安装都会重写。自己的设置（密钥、监听地址等）写在 /etc/qa/qa.env。
QA_EMBED_MODEL=$prefix/model/$MODEL_NAME
QA_CORPUS_DIR=$prefix/corpus
QA_INDEX_DIR=$data_dir/index
# 离线服务器：模型只从本地文件夹加载，从不访问模型仓库。
HF_HUB_OFFLINE=1
TRANSFORMERS_OFFLINE=1
EOF
mv -- "$prefix/etc/qa.env.new" "$prefix/etc/qa.env"

cat > "$prefix/bin/qa.new" <<EOF
#!/usr/bin/env bash
# qa with this installation's settings (written by install.sh). A variable already set in the
# environment wins, then /etc/qa/qa.env (the administrator's), then $prefix/etc/qa.env.
load() {
  [ -r "\$1" ] || return 0
  local key value
  while IFS='=' read -r key value || [ -n "\$key" ]; do
    [[ \$key =~ ^[A-Za-z_][A-Za-z0-9_]*\$ ]] || continue   # comments and blank lines
    value=\${value%\"}; value=\${value#\"}
    [[ -v \$key ]] || export "\$key=\$value"
  done < "\$1"
}
load /etc/qa/qa.env
load $prefix/etc/qa.env
exec $venv/bin/qa "\$@"
EOF
chmod 755 "$prefix/bin/qa.new"
mv -- "$prefix/bin/qa.new" "$prefix/bin/qa"

sed -e "/^#/!s|/opt/qa|$prefix|g" -e "/^#/!s|/var/lib/qa|$data_dir|g" deploy/qa.service > "$prefix/etc/qa.service"

step "用默认语料构建索引 $data_dir/index"
# The index is written by whoever owns the data directory: after `chown qa:qa`, an upgrade run as
# root still leaves every file the service's to rewrite.
owner=$(stat -c %U -- "$data_dir")
as_owner=()
if [ "$(id -u)" -eq 0 ] && [ "$owner" != root ]; then as_owner=(runuser -u "$owner" --); fi
if ! ${as_owner[@]+"${as_owner[@]}"} "$prefix/bin/qa" ingest; then
  if [ -n "$model_changed" ]; then
    die "模型已更换，旧索引不能再用：先备份（qa backup），再以数据目录的属主运行 $prefix/bin/qa ingest --rebuild"
  fi
  die "索引没有建成（原因见上方）"
fi
if [ -n "$model_changed" ]; then
  # The index knows its model by folder name only: new weights under the same name go unnoticed.
  echo "注意：模型文件已更新，现有索引的向量仍来自旧模型。请先备份（qa backup），再以数据目录的属主运行" \
       "$prefix/bin/qa ingest --rebuild" >&2
fi

cat <<EOF

已安装 qa $QA_VERSION：程序 $prefix，数据 $data_dir。
  试一试：  $prefix/bin/qa ask "2025年市场主体目标是多少？"
  作为服务：见 README「部署（离线服务器）」，服务文件为 $prefix/etc/qa.service
EOF
