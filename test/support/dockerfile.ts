/** A small Dockerfile parser for the image tests: comments, `\` continuations, global ARG defaults, stages. */
import { readFileSync } from "node:fs";

export interface DockerfileInstruction {
  /** Upper-cased, e.g. `RUN`. */
  readonly keyword: string;
  /** Everything after the keyword, continuations joined with a space. */
  readonly args: string;
}

export interface DockerfileStage {
  /** The base image with global ARG defaults substituted, or the name of an earlier stage. */
  readonly from: string;
  /** `AS <name>`, if any. */
  readonly name: string | undefined;
  readonly instructions: DockerfileInstruction[];
}

export interface ParsedDockerfile {
  /** Global (before the first FROM) ARG defaults. */
  readonly args: Record<string, string>;
  readonly stages: DockerfileStage[];
}

/** Parses a Dockerfile's text. */
export function parseDockerfile(text: string): ParsedDockerfile {
  const logical: string[] = [];
  let current = "";
  for (const raw of text.split("\n")) {
    const line = raw.trimEnd();
    if (current === "" && (line.trim() === "" || line.trim().startsWith("#"))) continue;
    if (line.endsWith("\\")) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push((current + line).trim());
    current = "";
  }
  if (current !== "") logical.push(current.trim());

  const args: Record<string, string> = {};
  const stages: DockerfileStage[] = [];
  for (const line of logical) {
    const m = /^(\S+)\s+([\s\S]*)$/.exec(line);
    if (!m) continue;
    const keyword = (m[1] ?? "").toUpperCase();
    const rest = m[2] ?? "";
    if (keyword === "ARG" && stages.length === 0) {
      const [name, value] = rest.split("=", 2);
      if (name && value !== undefined) args[name.trim()] = value.trim();
      continue;
    }
    if (keyword === "FROM") {
      const resolved = rest.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string | undefined, b: string | undefined) => args[a ?? b ?? ""] ?? "<unset>");
      const [image, as, name] = resolved.split(/\s+/);
      stages.push({ from: image ?? "", name: as?.toUpperCase() === "AS" ? name : undefined, instructions: [] });
      continue;
    }
    stages.at(-1)?.instructions.push({ keyword, args: rest });
  }
  return { args, stages };
}

/** Reads and parses a Dockerfile (e.g. `new URL("../../services/x/Dockerfile", import.meta.url)`). */
export function readDockerfile(path: URL | string): ParsedDockerfile {
  return parseDockerfile(readFileSync(path, "utf8"));
}

/** The instructions of `stage` with `keyword`. */
export function instructionsOf(stage: DockerfileStage | undefined, keyword: string): DockerfileInstruction[] {
  return (stage?.instructions ?? []).filter((i) => i.keyword === keyword);
}

/** The body of the first `node -e '…'` script in `text` (single-quoted). */
export function nodeEvalScript(text: string): string | undefined {
  return /node -e '([\s\S]*?)'/.exec(text)?.[1];
}
