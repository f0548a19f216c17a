// Imported first by the public-route suite: core reads SWITCHYARD_INTERNALS once, as it loads,
// and ES modules evaluate in import order, so this runs before any switchyard module does.
process.env.SWITCHYARD_INTERNALS = '0';
