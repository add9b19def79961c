/**
 * The thread that computes chain links ahead of the writer (see chain-ahead.ts). It only reads:
 * hand-offs from the writer (rows, or overflow records it reads back itself) and chain states;
 * it writes nothing but its results to the writer.
 */
import { receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { AheadComputer, type ToHelper } from './chain-ahead.js';
import { lowerThreadPriority } from './spawn-thread.js';

/**
 * Nice levels below the app's threads (see lowerThreadPriority): lower than the writer too, as
 * this thread only saves the writer work it can always do itself.
 */
const HELPER_NICE = 15;

lowerThreadPriority(HELPER_NICE);
const { port, overflowDir } = workerData as { port: MessagePort; overflowDir: string };
const computer = new AheadComputer(overflowDir);

/** Applies every message waiting on the port. */
function drain(): void {
  for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port))
    computer.apply(m.message as ToHelper);
}

port.on('message', (first: ToHelper) => {
  // Everything waiting first (a newer state makes older work moot), then the hashing, looking
  // for newer messages after each hand-off: a state the writer sent meanwhile (a prediction did
  // not hold) stops hashing from the old one at once.
  computer.apply(first);
  drain();
  computer.hashPending((r) => port.postMessage(r), drain);
});
