// The plugin is plain JavaScript, and so are its tests.
module.exports = {
  ...require('../../jest.preset.js'),
  displayName: require('./package.json').name,
  testMatch: ['<rootDir>/test/**/*.test.js'],
};
