#!/usr/bin/env bash
# scripts/dist.sh java: target/dist/java/ holds, for Maven coordinates dev.dbtoken:*:VERSION,
#   dbtoken-VERSION.jar                     the API with libdbtoken_jni.so for every dist arch,
#                                           glibc (META-INF/native/linux-ARCH/) and musl for
#                                           Alpine (META-INF/native/linux-ARCH-musl/), stripped,
#                                           JNI-only exports; NativeLibrary picks one at load time
#   dbtoken-VERSION.pom, dbtoken-VERSION-sources.jar
#   dbtoken-databricks-sdk-VERSION{.jar,.pom,-sources.jar}   the databricks-sdk-java adapter
# Install with: mvn install:install-file -Dfile=X.jar -DpomFile=X.pom -Dsources=X-sources.jar
# (tests/dist/java.sh does, into a throw-away local repository).
set -euo pipefail
# shellcheck source=scripts/dist/common.sh
source "$(dirname "$0")/common.sh"
java_dir="$DIST_ROOT/bindings/java"
for module in dbtoken databricks-sdk; do
    v=$(sed -n 's|^  <version>\(.*\)</version>$|\1|p' "$java_dir/$module/pom.xml" | head -1) # the project's
    [ "$v" = "$VERSION" ] || {
        echo "dist java: bindings/java/$module/pom.xml has version '$v', Cargo.toml '$VERSION': make them equal" >&2
        exit 1
    }
done
natives="$DIST_WORK/java-native"
rm -rf "$natives"
for arch in $(dist_arches); do
    for libc in gnu musl; do
        lib=$(build_staticlib "$arch" "$libc")
        bash "$java_dir/build-native.sh" --out "$natives" --arch "$arch" --libc "$libc" --staticlib "$lib"
    done
done
(cd "$java_dir" && mvn -B -ntp -q -Dstyle.color=never package -Dmaven.test.skip=true \
    -Ddbtoken.native.skip=true -Ddbtoken.native.dir="$natives")
out="$DIST/java"
rm -rf "$out"
mkdir -p "$out"
for module in dbtoken:dbtoken databricks-sdk:dbtoken-databricks-sdk; do
    dir=${module%%:*} artifact=${module#*:}
    cp "$java_dir/$dir/target/$artifact-$VERSION.jar" "$java_dir/$dir/target/$artifact-$VERSION-sources.jar" "$out/"
    cp "$java_dir/$dir/pom.xml" "$out/$artifact-$VERSION.pom"
done
for arch in $(dist_arches); do
    for platform in "linux-$arch" "linux-$arch-musl"; do
        jar tf "$out/dbtoken-$VERSION.jar" | grep -q "META-INF/native/$platform/libdbtoken_jni.so" || {
            echo "dist java: dbtoken-$VERSION.jar lacks the $platform library" >&2
            exit 1
        }
    done
done
dist_log "java: $(cd "$out" && ls -l --block-size=K ./*.jar ./*.pom | awk '{print $5, $NF}' | tr '\n' ' ')"
