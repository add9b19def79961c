/**
 * Order e-mails through nodemailer, delivered to a file transport: each message is rendered by
 * nodemailer (real MIME) and written as an .eml file into the outbox folder, where a developer
 * can open it. A failed send is logged as an `email` error and retried a bounded number of
 * times; every attempt is in the order's story.
 */
import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import nodemailer from 'nodemailer';
import type { Logger } from 'safetynet';

export interface MailerOptions {
  outbox: string;
  from: string;
  /** Delay before each retry, ms (default 2000). */
  retryMs?: number;
  /** Attempts in all (default 3). */
  attempts?: number;
}

export interface OrderMail {
  orderId: number;
  to: string;
  subject: string;
  text: string;
}

export class Mailer {
  private readonly transport = nodemailer.createTransport({
    streamTransport: true,
    buffer: true,
    newline: 'unix',
  });
  private readonly pending = new Set<NodeJS.Timeout>();

  constructor(
    private readonly log: Logger,
    private readonly options: MailerOptions,
  ) {}

  /** Sends now; on failure logs it and tries again later (never throws). */
  send(mail: OrderMail, attempt = 1): Promise<boolean> {
    return this.deliver(mail).then(
      async (file) => {
        await this.log.email.info(`order e-mail sent: ${mail.subject}`, {
          orderId: mail.orderId,
          details: { to: mail.to, attempt, file: path.basename(file) },
        });
        return true;
      },
      async (err: unknown) => {
        const attempts = this.options.attempts ?? 3;
        const retry = attempt < attempts;
        await this.log.error(err, {
          category: 'email',
          orderId: mail.orderId,
          message: `order e-mail not sent: ${mail.subject}`,
          details: { to: mail.to, attempt, willRetry: retry },
        });
        if (retry) {
          const t = setTimeout(() => {
            this.pending.delete(t);
            void this.send(mail, attempt + 1);
          }, this.options.retryMs ?? 2000);
          this.pending.add(t);
        }
        return false;
      },
    );
  }

  private async deliver(mail: OrderMail): Promise<string> {
    const info = await this.transport.sendMail({
      from: this.options.from,
      to: mail.to,
      subject: mail.subject,
      text: mail.text,
    });
    const file = path.join(
      this.options.outbox,
      `${mail.orderId}-${Date.now()}-${info.messageId.replace(/[^\w.-]/g, '')}.eml`,
    );
    await writeFile(file, info.message as Buffer);
    return file;
  }

  /** Cancels retries that have not run yet. */
  close(): void {
    for (const t of this.pending) clearTimeout(t);
    this.pending.clear();
  }
}
