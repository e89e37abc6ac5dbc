"""macs.actors"""
