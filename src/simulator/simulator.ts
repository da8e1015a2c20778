// The in-process traffic simulator: simulated users save, discuss, edit and delete through the command path.
import { randomBytes } from "node:crypto";
import { HttpError } from "../errors.ts";
import type { Commands } from "../commands/commands.ts";
import type { Store, User } from "../store/store.ts";
import { bundledCorpus, type CorpusEntry } from "./corpus.ts";
import { Runner, type Driver, type RunnerStats } from "./runner.ts";
import { SIMULATED_USERNAMES, SIMULATED_USERS_MAX, TrafficPlan, type BookmarkDraft } from "./traffic.ts";

export interface SimulatorOptions {
  commands: Commands;
  store: Store;
  /** Bookmarks per second. */
  rate: number;
  seed: number;
  /** How many simulated people (1..24). */
  users?: number;
  /** Commands awaiting their commit at most. */
  inFlightMax?: number;
  /** Replaces the bundled corpus (tests). */
  corpus?: readonly CorpusEntry[];
  /** Stop after this many steps (tests); unbounded otherwise. */
  stepsMax?: number;
  /** First step; by default the number of bookmarks simulated users already have. */
  startStep?: number;
  say?: (line: string) => void;
}

export interface SimulatorStats extends RunnerStats {
  seed: number;
  users: number;
}

const USERS_DEFAULT = 12;
const IN_FLIGHT_DEFAULT = 256;
/** Comments land on one of the newest public bookmarks; edits and deletes on one of the user's newest. */
const RECENT_PUBLIC_MAX = 200;
const OWN_RECENT_MAX = 50;

/**
 * Creates the simulated users that do not exist yet and reuses the ones that do (an earlier run,
 * or a register racing with ours: 409). Their passwords are random and thrown away: nobody logs
 * in as a simulated user.
 */
async function ensureUser(commands: Commands, store: Store, username: string): Promise<User> {
  const existing = store.userByName(username);
  if (existing) return existing;
  try {
    const { user } = await commands.register({ username, password: randomBytes(18).toString("base64url") }, "local", { ignoreClosedSignup: true });
    return user;
  } catch (error) {
    const user = store.userByName(username);
    if (error instanceof HttpError && error.status === 409 && user) return user;
    throw error;
  }
}

/** Actions go straight to Commands, exactly as the API's handlers call them. */
class CommandDriver implements Driver {
  constructor(
    private readonly commands: Commands,
    private readonly store: Store,
    private readonly users: readonly User[],
  ) {}

  private user(index: number): User {
    const user = this.users[index];
    if (!user) throw new RangeError(`no simulated user ${index}`);
    return user;
  }

  async create(user: number, draft: BookmarkDraft): Promise<number> {
    const { title, url, description, notes, tags } = draft;
    await this.commands.createBookmark(this.user(user), { title, url, description, notes, public: draft.public, tags });
    return 201;
  }

  async comment(user: number, target: { id: number }, body: string): Promise<number> {
    await this.commands.postComment(this.user(user), target.id, { body });
    return 201;
  }

  async edit(user: number, target: { id: number }, changes: object): Promise<number> {
    await this.commands.updateBookmark(this.user(user), target.id, changes);
    return 200;
  }

  async delete(user: number, target: { id: number }): Promise<number> {
    await this.commands.deleteBookmark(this.user(user), target.id);
    return 204;
  }

  recentPublic() {
    return this.store.publicBookmarks.newest(RECENT_PUBLIC_MAX).reverse();
  }

  ownRecent(user: number) {
    return this.user(user).bookmarks.newest(OWN_RECENT_MAX).reverse();
  }
}

export class Simulator {
  private runner: Runner | null = null;
  private starting: Promise<void> | null = null;
  private stopped = false;
  private readonly users: number;

  constructor(private readonly options: SimulatorOptions) {
    this.users = options.users ?? USERS_DEFAULT;
    if (!Number.isInteger(this.users) || this.users < 1 || this.users > SIMULATED_USERS_MAX) throw new RangeError(`simulated users must be 1..${SIMULATED_USERS_MAX}`);
  }

  /** Registers (or finds) the simulated users, then starts the traffic. */
  start(): Promise<void> {
    this.starting ??= this.begin();
    return this.starting;
  }

  private async begin(): Promise<void> {
    const { commands, store } = this.options;
    const users: User[] = [];
    for (const name of SIMULATED_USERNAMES.slice(0, this.users)) users.push(await ensureUser(commands, store, name));
    if (this.stopped) return;
    const startStep = this.options.startStep ?? users.reduce((sum, user) => sum + user.bookmarks.length, 0);
    const plan = new TrafficPlan(this.options.corpus ?? bundledCorpus(), this.options.seed, this.users);
    this.runner = new Runner(plan, new CommandDriver(commands, store, users), {
      rate: this.options.rate,
      inFlightMax: this.options.inFlightMax ?? IN_FLIGHT_DEFAULT,
      startStep,
      stepsMax: this.options.stepsMax,
      say: this.options.say,
    });
    this.runner.start();
    this.options.say?.(`${this.options.rate} bookmarks/s from ${this.users} simulated users, seed ${this.options.seed}, from step ${startStep}`);
  }

  /** Resolves when a bounded run (stepsMax) has issued everything and all of it has settled. */
  async finished(): Promise<void> {
    if (!this.runner) throw new Error("the simulator has not started");
    await this.runner.finished;
  }

  /** Stops issuing and waits for the commands in flight (the log is still open when closers run). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.starting?.catch(() => {});
    await this.runner?.stop();
  }

  stats(): SimulatorStats {
    return { ...(this.runner?.stats() ?? Runner.idleStats(this.options.rate)), seed: this.options.seed, users: this.users };
  }
}
