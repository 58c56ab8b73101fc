//! A small slab: dense `u32` ids for endpoints, messages, listeners and connection
//! requests handed to JavaScript (ids, never raw pointers, so a stale id is an error
//! rather than a crash).

/// Items addressed by reusable `u32` ids.
pub struct Slab<T> {
    items: Vec<Option<T>>,
    free: Vec<u32>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            items: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> Slab<T> {
    /// Stores `v` and returns its id.
    pub fn insert(&mut self, v: T) -> u32 {
        if let Some(id) = self.free.pop() {
            self.items[id as usize] = Some(v);
            id
        } else {
            self.items.push(Some(v));
            (self.items.len() - 1) as u32
        }
    }

    /// The item with `id`, if live.
    pub fn get(&self, id: u32) -> Option<&T> {
        self.items.get(id as usize).and_then(Option::as_ref)
    }

    /// The item with `id`, if live.
    pub fn get_mut(&mut self, id: u32) -> Option<&mut T> {
        self.items.get_mut(id as usize).and_then(Option::as_mut)
    }

    /// Removes and returns the item with `id`.
    pub fn remove(&mut self, id: u32) -> Option<T> {
        let v = self.items.get_mut(id as usize).and_then(Option::take);
        if v.is_some() {
            self.free.push(id);
        }
        v
    }

    /// Swaps the items of `a` and `b`; false (nothing changed) unless both are live.
    pub fn swap(&mut self, a: u32, b: u32) -> bool {
        if self.get(a).is_none() || self.get(b).is_none() {
            return false;
        }
        self.items.swap(a as usize, b as usize);
        true
    }

    /// Removes every item, returning them with their ids.
    pub fn drain(&mut self) -> Vec<(u32, T)> {
        self.free.clear();
        std::mem::take(&mut self.items)
            .into_iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (i as u32, v)))
            .collect()
    }

    /// Ids and items currently live.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.as_ref().map(|v| (i as u32, v)))
    }
}
