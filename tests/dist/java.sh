#!/usr/bin/env bash
# A JVM user outside this repository: a new Maven project in a temporary directory depends on
# dev.dbtoken:dbtoken and dev.dbtoken:dbtoken-databricks-sdk by coordinates, installed from
# target/dist/java/ (scripts/dist.sh java) into a throw-away local repository, and gets a token
# from the mock and calls the real databricks-sdk-java with it: no -Djava.library.path and no
# variable pointing at natives (they load from the jar).
set -euo pipefail
cd "$(dirname "$0")/../.."
need() { command -v "$1" >/dev/null || { echo "dist java: '$1' is required (install it; .ci/run does)" >&2; exit 1; }; }
need mvn
need keytool
bash scripts/dist.sh java
# shellcheck source=scripts/dist/common.sh
source scripts/dist/common.sh
work=$(mktemp -d)
# shellcheck source=tests/mock-env.sh
source tests/mock-env.sh
build_and_start_mock "$work"
unset DBTOKEN_JNI_LIBRARY

# The throw-away local repository starts as a copy of the user's (plugins, the SDK), without
# any dev.dbtoken artifact, so what resolves is what was installed from target/dist/java.
repo="$work/m2"
mkdir -p "$repo"
[ -d "$HOME/.m2/repository" ] && cp -a "$HOME/.m2/repository/." "$repo/"
rm -rf "$repo/dev/dbtoken"
for artifact in dbtoken dbtoken-databricks-sdk; do
    f="$DIST/java/$artifact-$VERSION"
    mvn -B -ntp -q -Dstyle.color=never -Dmaven.repo.local="$repo" install:install-file \
        -Dfile="$f.jar" -DpomFile="$f.pom" -Dsources="$f-sources.jar"
done

app="$work/app"
mkdir -p "$app/src/main/java/example"
cat >"$app/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>example</groupId>
  <artifactId>app</artifactId>
  <version>1</version>
  <properties>
    <maven.compiler.release>17</maven.compiler.release>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
  </properties>
  <dependencies>
    <dependency>
      <groupId>dev.dbtoken</groupId>
      <artifactId>dbtoken</artifactId>
      <version>$VERSION</version>
    </dependency>
    <dependency>
      <groupId>dev.dbtoken</groupId>
      <artifactId>dbtoken-databricks-sdk</artifactId>
      <version>$VERSION</version>
    </dependency>
    <dependency>
      <groupId>com.databricks</groupId>
      <artifactId>databricks-sdk-java</artifactId>
      <version>0.141.0</version>
    </dependency>
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-compiler-plugin</artifactId>
        <version>3.13.0</version>
      </plugin>
      <plugin>
        <groupId>org.codehaus.mojo</groupId>
        <artifactId>exec-maven-plugin</artifactId>
        <version>3.5.0</version>
        <configuration>
          <executable>java</executable>
          <commandlineArgs>\${app.jvm} -classpath %classpath example.Main</commandlineArgs>
        </configuration>
      </plugin>
    </plugins>
  </build>
</project>
POM
cat >"$app/src/main/java/example/Main.java" <<'JAVA'
package example;

import com.databricks.sdk.WorkspaceClient;
import com.databricks.sdk.core.DatabricksConfig;
import com.databricks.sdk.service.iam.MeRequest;
import dev.dbtoken.DbToken;
import dev.dbtoken.Token;
import dev.dbtoken.sdk.DbTokenCredentialsProvider;

public class Main {
    public static void main(String[] args) throws Exception {
        if (System.getProperty("java.library.path").contains("dbtoken")) throw new AssertionError("java.library.path");
        try (DbToken dbtoken = DbToken.fromEnv()) {
            Token t = dbtoken.token();
            if (!"Bearer".equals(t.tokenType()) || t.accessToken().isEmpty()) throw new AssertionError(t);
            System.out.println("consumer: " + t + ", JNI library from " + DbToken.nativeLibrary());
            if (!DbToken.nativeLibrary().startsWith("jar: META-INF/native/linux-")) throw new AssertionError("not from the jar");
        }
        try (DbTokenCredentialsProvider p = new DbTokenCredentialsProvider()) {
            WorkspaceClient w = new WorkspaceClient(new DatabricksConfig()
                    .setHost(System.getenv("DATABRICKS_HOST")).setCredentialsProvider(p));
            String user = w.currentUser().me(new MeRequest()).getUserName();
            if (!"dbtoken-mock-sp".equals(user)) throw new AssertionError(user);
            System.out.println("consumer: WorkspaceClient.currentUser().me() = " + user);
        }
    }
}
JAVA
trust=$(mock_jvm_trust "$work")
(cd "$app" && mvn -B -ntp -q -Dstyle.color=never -Dmaven.repo.local="$repo" compile exec:exec \
    -Dapp.jvm="$trust")
echo "dist java: 1 passed, 0 failed"
