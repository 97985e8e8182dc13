import { readFileSync } from "node:fs";
import type { ArchiveConfig } from "../config.js";
import { ConfigError } from "../errors.js";
import { PostgresArchive } from "./postgres-archive.js";
import { SqliteArchive } from "./sqlite-archive.js";
import type { Archive } from "./types.js";

/**
 * The archive the configuration names (not opened yet: the archiver opens it and retries while
 * it is unreachable). The PostgreSQL password comes from archive.passwordFile or
 * SO_ARCHIVE_PASSWORD; it never appears in a log or an error.
 */
export function archiveFromConfig(
  a: ArchiveConfig,
  env: NodeJS.ProcessEnv = process.env,
  onError?: (err: Error) => void,
): Archive {
  if (a.kind === "sqlite") return new SqliteArchive(a.path);
  let password: string | undefined;
  if (a.passwordFile) {
    password = readFileSync(a.passwordFile, "utf8").trim();
    if (!password) throw new ConfigError("archive.passwordFile", "is empty");
  } else if (env.SO_ARCHIVE_PASSWORD) password = env.SO_ARCHIVE_PASSWORD;
  return new PostgresArchive({
    connection: {
      ...(a.url ? { connectionString: a.url } : {}),
      ...(a.host ? { host: a.host } : {}),
      ...(a.port !== undefined ? { port: a.port } : {}),
      ...(a.user ? { user: a.user } : {}),
      ...(a.database ? { database: a.database } : {}),
      ...(password !== undefined ? { password } : {}),
    },
    ...(onError ? { onError } : {}),
  });
}
