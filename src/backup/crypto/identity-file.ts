/**
 * The identity file, in age-keygen's format so that `age -d -i FILE` reads it too:
 *
 *     # created: 2024-05-01T03:00:00Z
 *     # public key: age1…
 *     AGE-SECRET-KEY-1…
 *
 * Blank lines and `#` comments are ignored; every other line must be an identity.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { ExitCode, SafetynetError, isErrno } from '../../errors.js';
import { fsyncDir, tempSibling } from '../../util/fs.js';
import { generateIdentity, parseIdentity, type Identity } from './keys.js';

/** Identity files are a few lines; anything much larger is not one (and must not be slurped). */
const MAX_IDENTITY_FILE_BYTES = 1 << 20;

/** Parses the text of an identity file; `file` is only used in messages. */
export function parseIdentityFile(text: string, file: string): Identity[] {
  const out: Identity[] = [];
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const line = raw.replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) return;
    out.push(parseIdentity(line, `line ${i + 1} of the identity file ${file}`, file));
  });
  if (out.length === 0) {
    throw new SafetynetError('E_IDENTITY_INVALID', `the identity file ${file} holds no identity`, {
      hint: 'it should contain a line starting with "AGE-SECRET-KEY-1"; restore the file from your safe copy, or point backup.identity at the right file',
      exitCode: ExitCode.usage,
    });
  }
  return out;
}

/**
 * Loads the identities of an age identity file (the file `backup.identity` names).
 * Errors: E_IDENTITY_MISSING (no such file), E_IDENTITY_INVALID (unreadable or not an identity file).
 */
export async function loadIdentities(file: string): Promise<Identity[]> {
  let text: string;
  try {
    const st = await fsp.stat(file);
    if (!st.isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
    if (st.size > MAX_IDENTITY_FILE_BYTES) {
      throw new SafetynetError(
        'E_IDENTITY_INVALID',
        `${file} is ${st.size} bytes: too large to be an identity file`,
        {
          hint: 'backup.identity must name the small text file written by `safetynet keygen` (or age-keygen)',
          exitCode: ExitCode.usage,
        },
      );
    }
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    if (err instanceof SafetynetError) throw err;
    if (isErrno(err, 'ENOENT')) {
      throw new SafetynetError('E_IDENTITY_MISSING', `the identity file ${file} does not exist`, {
        hint: 'set backup.identity to the file written by `safetynet keygen` (restore it from your safe copy); without it the backups cannot be read',
        exitCode: ExitCode.usage,
        cause: err,
      });
    }
    throw new SafetynetError(
      'E_IDENTITY_INVALID',
      `the identity file ${file} cannot be read (${isErrno(err) ? err.code : String(err)})`,
      { hint: 'check that backup.identity names a readable file', exitCode: ExitCode.usage, cause: err },
    );
  }
  return parseIdentityFile(text, file);
}

/** The identity file text for one identity, as age-keygen writes it. */
export function formatIdentityFile(identity: string, recipient: string, created: Date): string {
  const stamp = created.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return `# created: ${stamp}\n# public key: ${recipient}\n${identity}\n`;
}

/**
 * Generates an identity and writes it to `file` with mode 0600. Refuses to replace an existing
 * file unless `force` (a lost identity makes every backup sealed to it unreadable). With `force`
 * the new file replaces the old one atomically, so a crash never leaves neither.
 */
export async function writeNewIdentityFile(
  file: string,
  opts: { force?: boolean; now?: Date } = {},
): Promise<{ recipient: string; file: string }> {
  const { identity, recipient } = generateIdentity();
  const text = formatIdentityFile(identity, recipient, opts.now ?? new Date());
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const target = opts.force ? tempSibling(file) : file;
  let fh: fsp.FileHandle;
  try {
    // 'wx': never follow or truncate something that is already there.
    fh = await fsp.open(target, 'wx', 0o600);
  } catch (err) {
    if (isErrno(err, 'EEXIST')) {
      throw new SafetynetError('E_IDENTITY_EXISTS', `${file} already exists; not replacing an identity`, {
        hint: 'backups sealed to the old identity need it to be restored: choose another --out, or pass --force only if you are sure the old one is not needed',
        exitCode: ExitCode.usage,
      });
    }
    throw err;
  }
  try {
    await fh.chmod(0o600); // the umask cannot widen it, but be explicit about the intent
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  if (target !== file) {
    try {
      await fsp.rename(target, file);
    } catch (err) {
      await fsp.rm(target, { force: true });
      throw err;
    }
  }
  await fsyncDir(path.dirname(file));
  return { recipient, file };
}
