// The one write path: parse, authorize, reserve, append durably; the log's commit hook applies and publishes.
import { HttpError } from "../errors.ts";
import { SESSION_TTL_MS, type BookmarkId, type CommentId, type EventBody, type InviteId, type Role, type SignupMode, type TokenId, type TokenKind, type UserId } from "../events.ts";
import type { EventLog } from "../log/log.ts";
import { canSee, isAdmin, type Bookmark, type Comment, type Store, type Token, type User } from "../store/store.ts";
import { decoyHash, hashPassword, needsRehash, verifyPassword } from "../auth/passwords.ts";
import { PasswordAttempts, type AttemptSource } from "../auth/password-attempts.ts";
import { hashToken, newTokenSecret } from "../auth/tokens.ts";
import { urlKey } from "../store/url-key.ts";
import { BulkEditInput, CommentInput, CreateBookmark, Credentials, NewPassword, PasswordChange, PasswordConfirmation, Registration, SignupInput, TagRename, TokenInput, UpdateBookmark, metadataWanted, normalizeTags, parseInput, type BulkAction, type MetadataWanted } from "./schemas.ts";
import { bulkEvents, checkBulkTags, retagEvents } from "./bulk.ts";

export interface CommandOptions {
  /** Sign-up until an admin switches it (signup.changed). */
  signup: SignupMode;
  /** New password hashes cost N = 2^this; weaker ones are replaced at the next log-in. */
  passwordCostLog2: number;
  passwordAttemptsPerAddressPerMinute: number;
}

/**
 * Whether `viewer` may take `comment` down: its author may, and so may an admin. The one rule for
 * every path that deletes a comment.
 */
export function mayDeleteComment(viewer: User, comment: Comment): boolean {
  return comment.user === viewer || isAdmin(viewer);
}

/** Bookmarks per createBookmarks call: one append, one transaction. */
export const BATCH_BOOKMARKS_MAX = 1000;

/** What became of one input of createBookmarks. */
export type BatchOutcome =
  | { kind: "created"; id: BookmarkId }
  | { kind: "duplicate"; id: BookmarkId | null }
  | { kind: "invalid"; error: HttpError };

/** A fetch of a bookmark's URL as the log records it (the `link.checked` payload without its id). */
export type LinkCheckRecord = Omit<Extract<EventBody, { type: "link.checked" }>["payload"], "id">;

/** What a metadata fetch found, for the fields the person did not give. */
export interface FetchedFields {
  title: string | null;
  description: string | null;
}

/** What a bulk edit did: the ids it named, and those it changed (the others already were as asked). */
export interface BulkResult {
  action: BulkAction;
  ids: number[];
  changed: number[];
}

/** What a tag rename, merge or deletion did: how many of the owner's bookmarks it changed. */
export interface TagEditResult {
  tag: string;
  name: string | null;
  bookmarks: number;
}

export interface IssuedToken {
  token: Token;
  /** The secret itself: shown to its owner once, never stored. */
  secret: string;
}

/**
 * Commands validate and authorize synchronously against the store, reserve the uniqueness keys
 * they claim (a username, a user's URL) while their commit is in flight, and append. They never
 * touch the store: the log's commit hook applies each committed event, so memory is always the
 * fold of what is durable. Reservations are released whether the commit succeeded or not.
 */
export class Commands {
  private readonly reserved = new Set<string>();
  /**
   * Bookmark fields changed by appends still in flight, counted per `<field>:<id>`. The store
   * shows a change only once it commits, so recordLinkCheck asks here too: a fetch that started
   * before an owner's edit must not undo it, nor record a check of a URL being replaced.
   */
  private readonly editsInFlight = new Map<string, number>();
  private readonly attempts: PasswordAttempts;
  /** Told of every bookmark saved through createBookmark that asks for its page's metadata (main wires the fetcher). */
  onMetadataWanted: ((bookmark: Bookmark, wanted: MetadataWanted) => void) | null = null;

  constructor(
    private readonly store: Store,
    private readonly log: EventLog,
    private readonly options: CommandOptions,
  ) {
    this.attempts = new PasswordAttempts(options.passwordAttemptsPerAddressPerMinute);
    // Ready before the first log-in of an unknown username, so that one costs no more than any other.
    decoyHash(options.passwordCostLog2).catch(() => {});
  }

  private reserve(keys: readonly string[], conflict: () => HttpError): void {
    if (keys.some((key) => this.reserved.has(key))) throw conflict();
    for (const key of keys) this.reserved.add(key);
  }

  private async appendReserved(bodies: EventBody[], keys: readonly string[]): Promise<void> {
    try {
      await this.log.append(bodies);
    } finally {
      for (const key of keys) this.reserved.delete(key);
    }
  }

  /**
   * Appends bookmark changes, counting the fields they change in editsInFlight from before the
   * append is queued until its commit was applied (or failed).
   */
  private async appendEdits(bodies: EventBody[], keys: readonly string[]): Promise<void> {
    const edits: string[] = [];
    for (const body of bodies) {
      if (body.type !== "bookmark.updated") continue;
      for (const field of EDITS_WATCHED) if (body.payload[field] !== undefined) edits.push(`${field}:${body.payload.id}`);
    }
    for (const edit of edits) this.editsInFlight.set(edit, (this.editsInFlight.get(edit) ?? 0) + 1);
    try {
      await this.appendReserved(bodies, keys);
    } finally {
      for (const edit of edits) {
        const left = this.editsInFlight.get(edit)! - 1;
        if (left === 0) this.editsInFlight.delete(edit);
        else this.editsInFlight.set(edit, left);
      }
    }
  }

  private editInFlight(field: (typeof EDITS_WATCHED)[number], id: BookmarkId): boolean {
    return this.editsInFlight.has(`${field}:${id}`);
  }

  /** Who may sign up now: as an admin last switched it, else NASTY_SIGNUP. */
  get signupMode(): SignupMode {
    return this.store.signupMode ?? this.options.signup;
  }

  /**
   * Signs up a user; `from` counts against its address's password attempts (PasswordAttempts).
   * Closed sign-up refuses; invitation-only needs an unused invitation, spent by the same append.
   * The first account of a server is made its admin in that append too. `ignoreClosedSignup`
   * (the CLI, the simulator) creates the account whatever the mode.
   */
  async register(input: unknown, from: AttemptSource, options: { ignoreClosedSignup?: boolean } = {}): Promise<{ user: User } & IssuedToken> {
    this.attempts.attempt(from, "sign-up");
    const mode = options.ignoreClosedSignup ? "open" : this.signupMode;
    if (mode === "closed") throw new HttpError(403, "sign-up is closed on this server; ask its admin for an account");
    const { username, password, invite: inviteSecret } = parseInput(Registration, input);
    const invite = mode === "invite" ? this.validInvite(inviteSecret) : null;
    const taken = () => new HttpError(409, `username ${username} is already taken`, { errors: { username: ["has already been taken"] } });
    if (this.store.userByName(username)) throw taken();
    const keys = [`user:${username}`];
    this.reserve(keys, taken);
    if (invite) this.reserve([`invite:${invite}`], () => new HttpError(403, "this invitation is being used right now; ask for a new one"));
    if (invite) keys.push(`invite:${invite}`);
    const first = this.store.usersById.size === 0 && !this.reserved.has("first-admin");
    if (first) keys.push("first-admin");
    if (first) this.reserved.add("first-admin");
    const userId = this.store.ids.next<UserId>();
    const tokenId = this.store.ids.next<TokenId>();
    const secret = newTokenSecret();
    let passwordHash: string;
    try {
      passwordHash = await hashPassword(password, this.options.passwordCostLog2);
    } catch (error) {
      for (const key of keys) this.reserved.delete(key);
      throw error;
    }
    const bodies: EventBody[] = [
      { type: "user.registered", payload: { id: userId, username, password_hash: passwordHash } },
      { type: "token.created", payload: { id: tokenId, user_id: userId, hash: hashToken(secret), kind: "api", name: "sign-up", expires_at: null } },
    ];
    if (first) bodies.push({ type: "user.role_changed", payload: { id: userId, role: "admin" } });
    if (invite) bodies.push({ type: "invite.used", payload: { id: invite, user_id: userId } });
    await this.appendReserved(bodies, keys);
    const user = this.store.usersById.get(userId);
    const token = this.store.tokensById.get(tokenId);
    if (!user || !token) throw new HttpError(503, "the account was saved but could not be read back; try logging in");
    return { user, token, secret };
  }

  /**
   * Checks a username and password, the one log-in of every path: the attempt counts against
   * `from`'s address first, then the username's failures are checked. The same work is done for
   * unknown users (no timing oracle). A right password under a hash weaker than new ones gets a
   * new hash before this resolves (upgradePassword).
   */
  async authenticate(input: unknown, from: AttemptSource): Promise<User> {
    this.attempts.attempt(from, "log-in");
    const { username, password } = parseInput(Credentials, input);
    this.attempts.checkUsername(username);
    const user = this.store.userByName(username);
    const stored = user?.passwordHash ?? (await decoyHash(this.options.passwordCostLog2));
    const valid = await verifyPassword(password, stored);
    if (!user || !valid) {
      this.attempts.failed(username);
      throw new HttpError(401, "wrong username or password");
    }
    if (user.suspended) throw new HttpError(403, `the account ${user.username} is suspended by this site's admins; you cannot log in while it is`);
    if (needsRehash(stored, this.options.passwordCostLog2)) await this.upgradePassword(user, password, stored);
    return user;
  }

  /**
   * Replaces a hash weaker than new ones (an older, cheaper N) through the log: a
   * `user.password_changed` event, durable before the log-in that caused it is answered. One
   * upgrade per user at a time; if the password changed meanwhile, or hashing is too busy right
   * now (503), it is left for the next log-in.
   */
  private async upgradePassword(user: User, password: string, stored: string): Promise<void> {
    const key = `rehash:${user.id}`;
    if (this.reserved.has(key)) return;
    this.reserved.add(key);
    try {
      let passwordHash: string;
      try {
        passwordHash = await hashPassword(password, this.options.passwordCostLog2);
      } catch (error) {
        if (error instanceof HttpError && error.status === 503) return;
        throw error;
      }
      if (user.passwordHash !== stored) return;
      await this.log.append([{ type: "user.password_changed", payload: { id: user.id, password_hash: passwordHash } }]);
    } finally {
      this.reserved.delete(key);
    }
  }

  /** Sets a user's password (the CLI's `user password`): a `user.password_changed` event, durable before this resolves. */
  async setPassword(user: User, input: unknown): Promise<void> {
    const { password } = parseInput(NewPassword, input);
    const passwordHash = await hashPassword(password, this.options.passwordCostLog2);
    await this.log.append([{ type: "user.password_changed", payload: { id: user.id, password_hash: passwordHash } }]);
  }

  /**
   * Checks a logged-in person's own password (changing it, deleting the account): a wrong one
   * counts as a failed log-in of their username (PasswordAttempts) and is a 403.
   */
  private async confirmPassword(user: User, password: string, field: string): Promise<void> {
    this.attempts.checkUsername(user.username);
    if (await verifyPassword(password, user.passwordHash)) return;
    this.attempts.failed(user.username);
    throw new HttpError(403, `${field} is not your current password`);
  }

  /**
   * Changes one's own password (`{"current_password","new_password"}`): one append holds the new
   * hash and the revocation of every other token and session of theirs (the sockets those opened
   * close when it commits); `keep`, the token or session that asked, stays valid.
   */
  async changePassword(user: User, keep: Token, input: unknown): Promise<void> {
    const { currentPassword, newPassword } = parseInput(PasswordChange, input);
    await this.confirmPassword(user, currentPassword, "current_password");
    const passwordHash = await hashPassword(newPassword, this.options.passwordCostLog2);
    const revoked = this.tokensOf(user).filter((token) => token !== keep).map((token): EventBody => ({ type: "token.revoked", payload: { id: token.id } }));
    await this.log.append([{ type: "user.password_changed", payload: { id: user.id, password_hash: passwordHash } }, ...revoked]);
  }

  /** Deletes one's own account after checking their password (`{"password"}`): deleteAccount. */
  async deleteOwnAccount(user: User, input: unknown): Promise<void> {
    const { password } = parseInput(PasswordConfirmation, input);
    await this.confirmPassword(user, password, "password");
    await this.deleteAccount(user);
  }

  private tokensOf(user: User): Token[] {
    return [...this.store.tokensById.values()].filter((token) => token.user === user);
  }

  async issueToken(user: User, kind: TokenKind, nameInput: unknown = {}): Promise<IssuedToken> {
    const { name } = parseInput(TokenInput, nameInput);
    const id = this.store.ids.next<TokenId>();
    const secret = newTokenSecret(kind === "api" ? "nasty" : "session");
    const expiresAt = kind === "session" ? Date.now() + SESSION_TTL_MS : null;
    await this.log.append([{ type: "token.created", payload: { id, user_id: user.id, hash: hashToken(secret), kind, name, expires_at: expiresAt } }]);
    const token = this.store.tokensById.get(id);
    if (!token) throw new HttpError(503, "the token was saved but could not be read back; try again");
    return { token, secret };
  }

  async revokeToken(user: User, tokenId: number): Promise<void> {
    const token = this.store.tokensById.get(tokenId as TokenId);
    if (!token || token.user !== user) throw new HttpError(404, `no token ${tokenId} of yours`);
    await this.log.append([{ type: "token.revoked", payload: { id: token.id } }]);
  }

  async createBookmark(user: User, input: unknown): Promise<Bookmark> {
    const fields = parseInput(CreateBookmark, input);
    const existing = this.store.savedBy(user, fields.url);
    if (existing) throw duplicate(existing);
    const keys = [urlReservation(user, fields.url)];
    this.reserve(keys, () => new HttpError(409, "you are already saving this URL"));
    const id = this.store.ids.next<BookmarkId>();
    await this.appendReserved([{ type: "bookmark.created", payload: { id, user_id: user.id, ...fields } }], keys);
    const bookmark = this.store.bookmarksById.get(id);
    if (!bookmark) throw new HttpError(409, `bookmark ${id} was deleted as soon as it was saved`);
    const wanted = metadataWanted(input);
    if (wanted) this.onMetadataWanted?.(bookmark, wanted);
    return bookmark;
  }

  /**
   * Records a fetch of a bookmark's URL (one `link.checked` per check) and, for a metadata fetch, fills the
   * fields the person did not give and has not set since (the title still its URL, the
   * description still empty), in one append through the same update as any edit: durable first,
   * then live. What does not pass the update's own checks is left out. Nothing happens when the
   * bookmark is gone or its URL changed (or is changing: an edit in flight) while the fetch ran;
   * a field its owner is changing right now is not filled. These checks and the append run in
   * one synchronous step, so no edit can slip in between.
   */
  async recordLinkCheck(id: BookmarkId, fetchedUrl: string, checks: readonly LinkCheckRecord[], fill: FetchedFields | null = null): Promise<void> {
    const bookmark = this.store.bookmarksById.get(id);
    if (!bookmark || bookmark.url !== fetchedUrl || this.editInFlight("url", id)) return;
    const bodies: EventBody[] = [];
    const changes: Record<string, string> = {};
    if (fill?.title && bookmark.title === bookmark.url && !this.editInFlight("title", id)) changes.title = fill.title;
    if (fill?.description && bookmark.description === "" && !this.editInFlight("description", id)) changes.description = fill.description;
    for (const [name, value] of Object.entries(changes)) {
      try {
        parseInput(UpdateBookmark, { [name]: value });
      } catch {
        delete changes[name];
      }
    }
    if (Object.keys(changes).length > 0) bodies.push({ type: "bookmark.updated", payload: { id, ...parseInput(UpdateBookmark, changes) } });
    for (const check of checks) bodies.push({ type: "link.checked", payload: { id, ...check } });
    if (bodies.length > 0) await this.log.append(bodies);
  }

  /**
   * Creates many bookmarks of one user with one append (imports). Each input is validated on its
   * own: an invalid one, or one whose URL the user already has, is saving right now, or gave
   * earlier in the same batch, is reported in its outcome and left out; the rest commit together
   * (or, if the commit fails, not at all: the promise rejects with 503).
   */
  async createBookmarks(user: User, inputs: readonly unknown[]): Promise<BatchOutcome[]> {
    if (inputs.length > BATCH_BOOKMARKS_MAX) throw new HttpError(413, `at most ${BATCH_BOOKMARKS_MAX} bookmarks per batch, got ${inputs.length}`);
    const outcomes: BatchOutcome[] = [];
    const bodies: EventBody[] = [];
    const keys: string[] = [];
    for (const input of inputs) {
      let fields: ReturnType<typeof CreateBookmark.normalize>;
      try {
        fields = parseInput(CreateBookmark, input);
      } catch (error) {
        if (!(error instanceof HttpError)) throw error;
        outcomes.push({ kind: "invalid", error });
        continue;
      }
      const key = urlReservation(user, fields.url);
      const existing = this.store.savedBy(user, fields.url);
      if (existing || this.reserved.has(key)) {
        outcomes.push({ kind: "duplicate", id: existing?.id ?? null });
        continue;
      }
      this.reserved.add(key);
      keys.push(key);
      const id = this.store.ids.next<BookmarkId>();
      bodies.push({ type: "bookmark.created", payload: { id, user_id: user.id, ...fields } });
      outcomes.push({ kind: "created", id });
    }
    if (bodies.length > 0) await this.appendReserved(bodies, keys);
    return outcomes;
  }

  /** The id of the unused invitation `secret` opens; 403 naming the problem otherwise. */
  private validInvite(secret: string | null): InviteId {
    if (secret === null) throw new HttpError(403, "sign-up is by invitation only on this server: open the invitation link you were given, or ask its admin for one");
    const invite = this.store.invitesByHash.get(hashToken(secret));
    if (!invite) throw new HttpError(403, "this invitation is not valid: it was already used or never existed; ask for a new one");
    return invite.id;
  }

  // ---- moderation: `actor` is the admin acting, or null for the server's own CLI (its operator) ----

  /** Throws 403 unless `actor` is an admin (or the CLI). */
  requireAdmin(actor: User | null, what: string): void {
    if (actor !== null && !isAdmin(actor)) throw new HttpError(403, `only admins may ${what}`);
  }

  async setRole(actor: User | null, user: User, role: Role): Promise<void> {
    this.requireAdmin(actor, "change roles");
    if (user.role === role) throw new HttpError(409, `${user.username} is already ${role === "admin" ? "an admin" : "a member"}`);
    await this.log.append([{ type: "user.role_changed", payload: { id: user.id, role } }]);
  }

  /**
   * Suspends a user or lifts it. While suspended they cannot log in, their tokens and sessions
   * are refused (Store.activeToken) and their sockets close, and what they wrote is hidden from
   * everyone else; lifting it brings all of it back.
   */
  async setSuspended(actor: User | null, user: User, suspended: boolean): Promise<void> {
    this.requireAdmin(actor, suspended ? "suspend users" : "lift suspensions");
    if (actor === user) throw new HttpError(409, "you cannot suspend yourself");
    if (user.suspended === suspended) throw new HttpError(409, `${user.username} is ${suspended ? "already suspended" : "not suspended"}`);
    await this.log.append([{ type: suspended ? "user.suspended" : "user.unsuspended", payload: { id: user.id } }]);
  }

  /** An admin erases someone's account (their own goes through DELETE /api/me): deleteAccount. */
  async deleteUser(actor: User | null, user: User): Promise<void> {
    this.requireAdmin(actor, "delete users");
    if (actor === user) throw new HttpError(409, "delete your own account from your settings, not as an admin");
    await this.deleteAccount(user);
  }

  async setSignup(actor: User | null, input: unknown): Promise<SignupMode> {
    this.requireAdmin(actor, "switch sign-up");
    const { mode } = parseInput(SignupInput, input);
    if (mode !== this.signupMode) await this.log.append([{ type: "signup.changed", payload: { mode } }]);
    return mode;
  }

  /** A new single-use invitation; the secret goes into its link and is stored only as a hash. */
  async createInvite(actor: User | null): Promise<string> {
    this.requireAdmin(actor, "invite people");
    const id = this.store.ids.next<InviteId>();
    const secret = newTokenSecret("invite");
    await this.log.append([{ type: "invite.created", payload: { id, hash: hashToken(secret), created_by: actor?.id ?? null } }]);
    return secret;
  }

  /**
   * A bookmark `user` may delete: their own, or anyone's when they are an admin (an admin reaches
   * another's private bookmark only here, to delete it). 404 when they cannot see it, 403 when
   * it is someone else's and they are a member.
   */
  deletableBookmark(user: User, id: number): Bookmark {
    if (!isAdmin(user)) return this.ownBookmark(user, id);
    const bookmark = this.store.bookmarksById.get(id as BookmarkId);
    if (!bookmark) throw new HttpError(404, `no bookmark ${id}`);
    return bookmark;
  }

  /** The bookmark if `user` owns it: 404 when they cannot see it, 403 when it is someone else's. */
  ownBookmark(user: User, id: number): Bookmark {
    const bookmark = this.store.visibleBookmark(id, user);
    if (!bookmark) throw new HttpError(404, `no bookmark ${id}`);
    if (bookmark.user !== user) throw new HttpError(403, `bookmark ${id} belongs to ${bookmark.user.username}; only its owner may change it`);
    return bookmark;
  }

  async updateBookmark(user: User, id: number, input: unknown): Promise<Bookmark> {
    const bookmark = this.ownBookmark(user, id);
    const changes = parseInput(UpdateBookmark, input);
    const keys: string[] = [];
    if (changes.url !== undefined && urlKey(changes.url) !== urlKey(bookmark.url)) {
      const existing = this.store.savedBy(user, changes.url, bookmark);
      if (existing) throw duplicate(existing);
      keys.push(urlReservation(user, changes.url));
      this.reserve(keys, () => new HttpError(409, "you are already saving this URL"));
    }
    await this.appendEdits([{ type: "bookmark.updated", payload: { id: bookmark.id, ...changes } }], keys);
    const updated = this.store.bookmarksById.get(bookmark.id);
    if (!updated) throw new HttpError(404, `bookmark ${id} was deleted before the change was saved`);
    return updated;
  }

  /**
   * Changes many of one user's bookmarks (Pinboard's tags/rename and tags/delete), at most
   * BATCH_BOOKMARKS_MAX per append. Every change is checked before anything is appended; URLs
   * cannot change here (that needs the duplicate check of updateBookmark).
   */
  async updateBookmarks(user: User, changes: readonly { id: number; input: unknown }[]): Promise<void> {
    const bodies: EventBody[] = changes.map(({ id, input }) => {
      const bookmark = this.ownBookmark(user, id);
      const fields = parseInput(UpdateBookmark, input);
      if (fields.url !== undefined) throw new HttpError(400, "a batch of changes cannot change URLs; change one bookmark at a time");
      return { type: "bookmark.updated", payload: { id: bookmark.id, ...fields } };
    });
    for (let start = 0; start < bodies.length; start += BATCH_BOOKMARKS_MAX) await this.appendEdits(bodies.slice(start, start + BATCH_BOOKMARKS_MAX), []);
  }

  /**
   * A bulk edit of the user's own bookmarks (POST /api/bookmarks/bulk, the bulk form): validated
   * as a whole — an id that is unknown, someone else's, repeated, one too many, or a change a
   * bookmark cannot take refuses everything — then one append, so it commits (and goes live) as
   * one unit or not at all. Tag actions share one reservation per user with tag care, so two
   * tag rewrites of one person never interleave.
   */
  async bulkEdit(user: User, input: unknown): Promise<BulkResult> {
    const { ids, action, tags, bookmarks } = this.bulkSelection(user, input);
    const bodies = bulkEvents(bookmarks, action, tags);
    const keys = action === "delete" ? bookmarks.map((bookmark) => `delete:${bookmark.id}`) : action.endsWith("_tags") ? [retagReservation(user)] : [];
    this.reserve(keys, () => new HttpError(409, action === "delete" ? "one of these bookmarks is being deleted already" : "another tag change of yours is being saved; try again"));
    if (bodies.length > 0) await this.appendReserved(bodies, keys);
    else for (const key of keys) this.reserved.delete(key);
    const changed = bodies.map((body) => (body.payload as { id: number }).id);
    return { action, ids, changed };
  }

  /** A bulk edit checked as bulkEdit checks it, and the bookmarks it names, changing nothing (the pages' delete confirmation lists them). */
  bulkSelection(user: User, input: unknown): { ids: number[]; action: BulkAction; tags: string[]; bookmarks: Bookmark[] } {
    const { ids, action, tags } = parseInput(BulkEditInput, input);
    checkBulkTags(action, tags);
    return { ids, action, tags, bookmarks: ids.map((id) => this.ownBookmark(user, id)) };
  }

  /** The user's own tag named by `raw` (as given in a path or a form), normalized; 404 when none of their bookmarks carries it. */
  ownTag(user: User, raw: string): string {
    const [tag] = normalizeTags([raw]);
    if (tag === undefined || !carriesTag(user, tag)) {
      throw new HttpError(404, `none of your bookmarks is tagged "${raw.slice(0, 64)}"`);
    }
    return tag;
  }

  /**
   * Renames one of the user's tags on every bookmark of theirs carrying it; onto a tag they
   * already use, the two merge. One append (at most TAG_EDIT_BOOKMARKS_MAX bookmarks).
   */
  async renameTag(user: User, raw: string, input: unknown): Promise<TagEditResult> {
    const tag = this.ownTag(user, raw);
    const { name } = parseInput(TagRename, input);
    if (name === tag) throw new HttpError(422, `the tag is already called "${tag}"`, { errors: { name: ["is the tag's name already"] } });
    return this.retag(user, tag, name);
  }

  /** Takes one of the user's tags off every bookmark of theirs carrying it, in one append. */
  async deleteTag(user: User, raw: string): Promise<TagEditResult> {
    return this.retag(user, this.ownTag(user, raw), null);
  }

  private async retag(user: User, tag: string, name: string | null): Promise<TagEditResult> {
    const bodies = retagEvents([...user.bookmarks.values()], tag, name);
    const keys = [retagReservation(user)];
    this.reserve(keys, () => new HttpError(409, "another tag change of yours is being saved; try again"));
    await this.appendReserved(bodies, keys);
    return { tag, name, bookmarks: bodies.length };
  }

  async deleteBookmark(user: User, id: number): Promise<void> {
    const bookmark = this.deletableBookmark(user, id);
    const keys = [`delete:${bookmark.id}`];
    this.reserve(keys, () => new HttpError(404, `no bookmark ${id} (it is being deleted)`));
    await this.appendReserved([{ type: "bookmark.deleted", payload: { id: bookmark.id } }], keys);
  }

  /**
   * Erases an account: their bookmarks and every comment they wrote are deleted and their tokens
   * revoked in events of their own (BATCH_BOOKMARKS_MAX per append, so every part following the
   * log, live pages included, hears of each), then `user.deleted` takes the user and anything
   * saved meanwhile. The data leaves the disk at the next snapshot (README: Snapshots and erasure).
   */
  async deleteAccount(user: User): Promise<void> {
    const keys = [`delete-user:${user.id}`];
    this.reserve(keys, () => new HttpError(409, `the account ${user.username} is already being deleted`));
    try {
      const bodies: EventBody[] = [
        ...[...user.bookmarks.values()].map((bookmark): EventBody => ({ type: "bookmark.deleted", payload: { id: bookmark.id } })),
        ...[...this.store.commentsById.values()]
          .filter((comment) => comment.user === user && this.store.bookmarksById.get(comment.bookmarkId)?.user !== user)
          .map((comment): EventBody => ({ type: "comment.deleted", payload: { id: comment.id, bookmark_id: comment.bookmarkId } })),
        ...this.tokensOf(user).map((token): EventBody => ({ type: "token.revoked", payload: { id: token.id } })),
      ];
      for (let start = 0; start < bodies.length; start += BATCH_BOOKMARKS_MAX) await this.log.append(bodies.slice(start, start + BATCH_BOOKMARKS_MAX));
      await this.log.append([{ type: "user.deleted", payload: { id: user.id } }]);
    } finally {
      for (const key of keys) this.reserved.delete(key);
    }
  }

  /** Deletes a comment: 404 when `viewer` cannot see it (or it is gone), 403 when mayDeleteComment says no. */
  async deleteComment(viewer: User, id: number): Promise<void> {
    const comment = this.store.commentsById.get(id as CommentId);
    const bookmark = comment && this.store.bookmarksById.get(comment.bookmarkId);
    if (!comment || !bookmark || !canSee(viewer, bookmark)) throw new HttpError(404, `no comment ${id}`);
    if (!mayDeleteComment(viewer, comment)) throw new HttpError(403, `comment ${id} was written by ${comment.user.username}; only its author or an admin may delete it`);
    const keys = [`delete-comment:${comment.id}`];
    this.reserve(keys, () => new HttpError(404, `no comment ${id} (it is being deleted)`));
    await this.appendReserved([{ type: "comment.deleted", payload: { id: comment.id, bookmark_id: comment.bookmarkId } }], keys);
  }

  async postComment(user: User, bookmarkId: number, input: unknown): Promise<Comment> {
    const bookmark = this.store.visibleBookmark(bookmarkId, user);
    if (!bookmark) throw new HttpError(404, `no bookmark ${bookmarkId}`);
    const { body } = parseInput(CommentInput, input);
    // A delete already in flight wins before anything is logged: the answer is the bookmark's.
    if (this.reserved.has(`delete:${bookmark.id}`)) throw new HttpError(404, `no bookmark ${bookmarkId} (it is being deleted)`);
    const id = this.store.ids.next<CommentId>();
    const [logged] = await this.log.append([{ type: "comment.posted", payload: { id, bookmark_id: bookmark.id, user_id: user.id, body } }]);
    const stored = this.store.bookmarksById.get(bookmark.id)?.comments?.findLast((candidate) => candidate.id === id);
    // The comment is durable either way. When a delete of its bookmark (or the bookmark's owner's
    // erasure) committed around it, the delete took the comment with it; the answer is still the
    // comment as saved, the same whichever of the two committed first.
    return stored ?? { id, bookmarkId: bookmark.id, user, body, insertedAt: logged!.ts };
  }
}

/** The fields a fetch may fill or was about (recordLinkCheck): an edit of one of them in flight wins over the fetch. */
const EDITS_WATCHED = ["url", "title", "description"] as const;

/** The path of an invitation's link: the sign-up page with the secret (prefix it with the site's origin). */
export function invitePath(secret: string): string {
  return `/signup?invite=${secret}`;
}

/** What a command saving `url` for `user` reserves while its commit is in flight: the URL's duplicate key. */
function urlReservation(user: User, url: string): string {
  return `url:${user.id}:${urlKey(url)}`;
}

/** What every rewrite of one user's tags reserves while its commit is in flight (bulk tag actions, tag care). */
/** Whether any of the user's bookmarks carries `tag` (read one bookmark at a time). */
function carriesTag(user: User, tag: string): boolean {
  for (const bookmark of user.bookmarks.values()) if (bookmark.tags.includes(tag)) return true;
  return false;
}

function retagReservation(user: User): string {
  return `retag:${user.id}`;
}

/** 409 naming the bookmark already saved: its id and its URL as it was given. */
function duplicate(existing: Bookmark): HttpError {
  return new HttpError(409, `you already saved this URL as bookmark ${existing.id} (${existing.url})`, { id: existing.id, url: existing.url });
}
