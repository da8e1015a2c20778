// IdTable: a typed open-addressing hash from an id (a positive integer below 2^53) to an ord.
const INITIAL_SLOTS = 1024;

/**
 * Linear probing over a Float64Array of keys (0 = empty) and an Int32Array of values, at most
 * half full; a delete shifts the following run back, so there are no tombstones. Two typed arrays
 * instead of a Map: the collector sees two objects whatever the size.
 */
export class IdTable {
  private keys = new Float64Array(INITIAL_SLOTS);
  private values = new Int32Array(INITIAL_SLOTS);
  private count = 0;

  get size(): number {
    return this.count;
  }

  private slotOf(id: number): number {
    const low = id >>> 0;
    const high = (id / 0x1_0000_0000) >>> 0;
    // MurmurHash3's finalizer: ids share their low bits (the node id), so every bit is mixed.
    let hash = low ^ Math.imul(high, 0x9e3779b1);
    hash ^= hash >>> 16;
    hash = Math.imul(hash, 0x85ebca6b);
    hash ^= hash >>> 13;
    hash = Math.imul(hash, 0xc2b2ae35);
    hash ^= hash >>> 16;
    return hash & (this.keys.length - 1);
  }

  /** The ord of `id`, or 0 when absent. */
  get(id: number): number {
    const keys = this.keys;
    const mask = keys.length - 1;
    for (let slot = this.slotOf(id); ; slot = (slot + 1) & mask) {
      const key = keys[slot]!;
      if (key === id) return this.values[slot]!;
      if (key === 0) return 0;
    }
  }

  /** Adds `id` → `ord` (ord > 0); false when `id` is present already (nothing changed). */
  add(id: number, ord: number): boolean {
    if ((this.count + 1) * 2 > this.keys.length) this.resize(this.keys.length * 2);
    const keys = this.keys;
    const mask = keys.length - 1;
    for (let slot = this.slotOf(id); ; slot = (slot + 1) & mask) {
      const key = keys[slot]!;
      if (key === id) return false;
      if (key === 0) {
        keys[slot] = id;
        this.values[slot] = ord;
        this.count += 1;
        return true;
      }
    }
  }

  delete(id: number): boolean {
    const keys = this.keys;
    const mask = keys.length - 1;
    let slot = this.slotOf(id);
    while (keys[slot] !== id) {
      if (keys[slot] === 0) return false;
      slot = (slot + 1) & mask;
    }
    // Backward-shift deletion: move later entries of the run into the hole when their home allows.
    let hole = slot;
    for (let at = (hole + 1) & mask; keys[at] !== 0; at = (at + 1) & mask) {
      const home = this.slotOf(keys[at]!);
      const between = hole <= at ? home > hole && home <= at : home > hole || home <= at;
      if (between) continue;
      keys[hole] = keys[at]!;
      this.values[hole] = this.values[at]!;
      hole = at;
    }
    keys[hole] = 0;
    this.values[hole] = 0;
    this.count -= 1;
    return true;
  }

  /** Sizes the table for `count` ids at once (a snapshot load). */
  reserve(count: number): void {
    let slots = this.keys.length;
    while (count * 2 > slots) slots *= 2;
    if (slots !== this.keys.length) this.resize(slots);
  }

  private resize(slots: number): void {
    const oldKeys = this.keys;
    const oldValues = this.values;
    this.keys = new Float64Array(slots);
    this.values = new Int32Array(slots);
    const mask = slots - 1;
    for (let index = 0; index < oldKeys.length; index += 1) {
      const key = oldKeys[index]!;
      if (key === 0) continue;
      let slot = this.slotOf(key);
      while (this.keys[slot] !== 0) slot = (slot + 1) & mask;
      this.keys[slot] = key;
      this.values[slot] = oldValues[index]!;
    }
  }
}
